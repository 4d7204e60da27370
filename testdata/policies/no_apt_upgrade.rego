# Base images are patched by rebuilding them, not by upgrading packages
# in every application image.
package acme.no_apt_upgrade

metadata := {
	"id": "ACME-002",
	"title": "Dockerfiles must not run apt-get upgrade",
	"severity": "LOW",
	"target": "dockerfile",
	"remediation": "Rebuild on a patched base image instead.",
}

deny contains {"msg": "apt-get upgrade in a Dockerfile", "line": inst.line} if {
	some stage in input.stages
	some inst in stage.instructions
	inst.cmd == "run"
	some arg in inst.args
	contains(arg, "apt-get upgrade")
}
