package checks

import (
	"errors"

	"bulwark.dev/bulwark/internal/dockerfile"
)

func parseDockerfile(name string, b []byte) (*Object, *LoadError) {
	df, err := dockerfile.Parse(b)
	if err != nil {
		le := &LoadError{File: name, Err: err.Error()}
		var de *dockerfile.Error
		if errors.As(err, &de) {
			le.Line, le.Err = de.Line, de.Msg
		}
		return nil, le
	}
	return &Object{File: name, Line: 1, Kind: "Dockerfile", Name: name, dockerfile: df}, nil
}
