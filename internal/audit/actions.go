package audit

// Action names a kind of audited event. It is a closed set of values,
// not a string, so a call site cannot invent one: SIEM rules,
// docs/audit.md and the code agree, and a test holds the list and the
// documentation equal. A new action is added here and documented there.
type Action struct{ name string }

func (a Action) String() string { return a.name }

// The actions, in the order of docs/audit.md.
var (
	ActionServerStart     = Action{"server.start"}
	ActionUserCreate      = Action{"user.create"}
	ActionAuthLogin       = Action{"auth.login"}
	ActionAuthDeny        = Action{"auth.deny"}
	ActionAPIDeny         = Action{"api.deny"}
	ActionSuppressed      = Action{"audit.suppressed"}
	ActionRegistryPush    = Action{"registry.push"}
	ActionRegistryPull    = Action{"registry.pull"}
	ActionRegistryDelete  = Action{"registry.delete"}
	ActionRegistryMount   = Action{"registry.mount"}
	ActionPolicyDeny      = Action{"policy.deny"}
	ActionPolicyChange    = Action{"policy.change"}
	ActionMemberSet       = Action{"member.set"}
	ActionRobotCreate     = Action{"robot.create"}
	ActionRobotDelete     = Action{"robot.delete"}
	ActionRetentionRemove = Action{"retention.remove"}
	ActionGCRun           = Action{"gc.run"}
	ActionAuditPrune      = Action{"audit.prune"}
	ActionScanResult      = Action{"scan.result"}
	ActionScanRescan      = Action{"scan.rescan"}
	ActionAdmission       = Action{"admission.review"}
	ActionRuntimeAlert    = Action{"runtime.alert"}
	ActionSLAWarning      = Action{"sla.warning"}
	ActionSLABreach       = Action{"sla.breach"}
	ActionBenchmarkRun    = Action{"benchmark.run"}
)

// Actions lists every action.
var Actions = []Action{
	ActionServerStart, ActionUserCreate, ActionAuthLogin, ActionAuthDeny, ActionAPIDeny, ActionSuppressed,
	ActionRegistryPush, ActionRegistryPull, ActionRegistryDelete, ActionRegistryMount,
	ActionPolicyDeny, ActionPolicyChange, ActionMemberSet, ActionRobotCreate, ActionRobotDelete,
	ActionRetentionRemove, ActionGCRun, ActionAuditPrune, ActionScanResult, ActionScanRescan,
	ActionAdmission, ActionRuntimeAlert, ActionSLAWarning, ActionSLABreach, ActionBenchmarkRun,
}

// ParseAction returns the action of a name (sla.breach).
func ParseAction(name string) (Action, bool) {
	for _, a := range Actions {
		if a.name == name {
			return a, true
		}
	}
	return Action{}, false
}

// Outcome is how an action ended.
type Outcome struct{ name string }

func (o Outcome) String() string { return o.name }

// The outcomes. Denied is a refusal by policy or permission; Failure is
// an attempt that did not succeed (a wrong password).
var (
	Success = Outcome{"success"}
	Failure = Outcome{"failure"}
	Denied  = Outcome{"denied"}
)
