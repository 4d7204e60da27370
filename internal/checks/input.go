package checks

import "bulwark.dev/bulwark/internal/severity"

// inputChecks fail what could not be read. Without them a manifest the
// cluster accepts but bulwark cannot decode (a quoted number, a typo in a
// type) would be skipped, and a CI gate would pass it unchecked.
// UnreadableID is the input check's ID; reports keep it whatever the
// severity filter.
const UnreadableID = "BW-INP-001"

func inputChecks() []*Check {
	return []*Check{
		{ID: UnreadableID, Title: "Every input must be readable", Severity: severity.High, Target: TargetInput,
			Description: "An object, file or document that cannot be decoded was not checked at all. It may still be applied (kubectl and compose accept more than they validate), so a gate that skipped it would pass whatever it holds.",
			Remediation: "Fix the reported field or syntax (for example runAsUser: 1000 rather than \"1000\"); render templates first (helm template CHART | bulwark check -); or, for a file that is not meant to be deployed, except BW-INP-001 for that file in the ignore file.",
			Good:        hardenedPod, Bad: podWith("runAsUser: 10001", `runAsUser: "0"`),
			applies: func(o *Object) bool { return true }, check: checkReadable},
	}
}

func checkReadable(_ *Env, o *Object) []Failure {
	if o.unreadable == nil {
		return nil
	}
	return []Failure{{Line: o.Line, Message: o.unreadable.Err}}
}
