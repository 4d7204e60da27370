module github.com/erikvarga/go-rpmdb

go 1.22

require golang.org/x/xerrors v0.0.0-20240903120638-7835f813f4da
