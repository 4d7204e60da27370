package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/k8s"
	"bulwark.dev/bulwark/internal/netpol"
)

func newNetpolCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "netpol",
		Short: "Analyse network isolation from manifests",
	}
	cmd.AddCommand(newNetpolAnalyzeCommand(e))
	return cmd
}

func newNetpolAnalyzeCommand(e *env) *cobra.Command {
	var format, output, from, to, namespace string
	var exitCode int
	cmd := &cobra.Command{
		Use:   "analyze PATH...",
		Short: "Show which workloads can reach which, on which ports, from the policies",
		Long: `Compute, for every pair of workloads and for the addresses outside the
cluster, which ports and protocols the NetworkPolicies, AdminNetworkPolicies
and the BaselineAdminNetworkPolicy allow (see docs/netpol.md for the
semantics). PATH may be a file, a directory (searched recursively) or - for
manifests on standard input. Namespaces are read from Namespace objects
(their labels feed namespaceSelectors); objects without a namespace go to
--namespace.

With --from and --to, explain one connection: every rule that decided it,
on each side.

Exit status: 0 when the analysis ran; --exit-code N when any warning was
raised (a policy the API server would refuse, a named port nothing
declares, a namespace not in the inputs); 2 when an input could not be
read: the matrix is then incomplete and says so.`,
		Example: `  bulwark netpol analyze k8s/
  bulwark netpol analyze k8s/ --format html --output reachability.html
  bulwark netpol analyze k8s/ --from shop/frontend --to shop/payments-db
  helm template ./chart | bulwark netpol analyze - --format json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(netpol.Formats, format) {
				return fmt.Errorf("--format %q: want one of %s", format, strings.Join(netpol.Formats, ", "))
			}
			if (from == "") != (to == "") {
				return fmt.Errorf("--from and --to go together: name both ends of the connection to explain")
			}
			objs, loadErrs := checks.Load(args, e.stdin)
			var ks []*k8s.Object
			for _, o := range objs {
				if k := o.K8s(); k != nil {
					ks = append(ks, k)
				}
			}
			for _, le := range loadErrs {
				fmt.Fprintf(e.stderr, "bulwark: %s (the matrix leaves it out and may be wrong)\n", le.Error())
			}
			if len(ks) == 0 {
				return fmt.Errorf("no Kubernetes object could be read from %s", strings.Join(args, ", "))
			}
			a := netpol.Build(ks, netpol.Options{DefaultNamespace: namespace})
			if a.Pods() == 0 {
				return fmt.Errorf("no workload (Pod, Deployment, StatefulSet, ...) in %s: there is nothing to connect", strings.Join(args, ", "))
			}
			if err := a.Compute(cmd.Context()); err != nil {
				return err
			}
			err := writeOutput(e, output, func(w io.Writer) error {
				if from == "" {
					return a.Write(w, format)
				}
				src, err := a.Find(from)
				if err != nil {
					return fmt.Errorf("--from: %w", err)
				}
				dst, err := a.Find(to)
				if err != nil {
					return fmt.Errorf("--to: %w", err)
				}
				x := a.Explain(src, dst)
				if format == "json" {
					return writeJSONTo(w, x)
				}
				return netpol.WriteExplanation(w, x)
			})
			if err != nil {
				return err
			}
			if format != "table" || output != "" || from != "" {
				for _, w := range a.Warnings {
					fmt.Fprintln(e.stderr, "warning:", w)
				}
			}
			if len(loadErrs) > 0 {
				return exitError{code: ExitError}
			}
			if exitCode != 0 && len(a.Warnings) > 0 {
				return exitError{code: exitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(netpol.Formats, ", "))
	fl.StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	fl.StringVar(&from, "from", "", "explain the connection from this workload (namespace/name) or address")
	fl.StringVar(&to, "to", "", "explain the connection to this workload (namespace/name) or address")
	fl.StringVar(&namespace, "namespace", "default", "namespace of objects that name none")
	fl.IntVar(&exitCode, "exit-code", 0, "exit with this code when the analysis raised a warning (0: report only)")
	return cmd
}
