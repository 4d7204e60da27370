# Every workload must name the team that owns it, so findings reach
# someone. A worked example of a bulwark custom check.
package acme.team_label

metadata := {
	"id": "ACME-001",
	"title": "Workloads must carry a team label",
	"severity": "MEDIUM",
	"target": "kubernetes",
	"description": "Ownership labels route findings and incidents to the right team.",
	"remediation": "Add metadata.labels.team to the workload and its pod template.",
}

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}

deny contains msg if {
	workload_kinds[input.kind]
	not input.metadata.labels.team
	msg := sprintf("%s %s has no team label", [input.kind, input.metadata.name])
}
