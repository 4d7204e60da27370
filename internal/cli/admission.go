package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/admission"
	"bulwark.dev/bulwark/internal/server"
)

func newAdmissionCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admission",
		Short: "Kubernetes admission control: the webhook, its installation, and an audit of a running cluster",
		Long: `bulwark admits a workload only when its pod passes the hardening checks
(the engine and IDs of bulwark check, with bulwark.dev/ignore annotations)
and every image passes the policy's verdict: signatures, attestations and,
with --server, the stored vulnerability scan. The mutating webhook pins
every image to the digest that was judged. See docs/admission.md.

bulwark serve answers the same webhook at /admission/validate and
/admission/mutate for the images it serves; bulwark admission serve runs
it alone, for clusters whose images live in other registries.`,
	}
	cmd.AddCommand(newAdmissionServeCommand(e), newAdmissionInstallCommand(e), newAdmissionAuditCommand(e))
	return cmd
}

// admissionFlags load the policy and build the webhook.
type admissionFlags struct {
	policy, server, user, tokenEnv string
	reg                            registryFlags
}

func (f *admissionFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.policy, "policy", "", "policy file: image rules and the admission section (docs/admission.md)")
	cmd.Flags().StringVar(&f.server, "server", "", "a bulwark server whose scans judge vulnerabilities (https://host:port); without it images count as unscanned")
	cmd.Flags().StringVar(&f.user, "user", "", "the robot account that reads scans from --server (robot$NAME, with pull on the projects judged; its token in --token-env); without it only public projects' scans are read")
	cmd.Flags().StringVar(&f.tokenEnv, "token-env", "BULWARK_TOKEN", "environment variable holding the robot's token for --server")
	f.reg.register(cmd)
	cmd.MarkFlagRequired("policy")
}

func (f *admissionFlags) webhook(ctx context.Context, e *env) (*admission.Webhook, error) {
	doc, ev, err := loadPolicyDocument(f.policy)
	if err != nil {
		return nil, err
	}
	cfg, err := admission.ParseConfig(doc.Admission)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", f.policy, err)
	}
	opts := f.reg.remote(ctx)
	ev.Remote = opts
	images := &admission.RegistryImages{Doc: doc, Eval: ev, Remote: opts, TTL: 10 * time.Second, WaitForScan: cfg.WaitForScan}
	if f.server != "" {
		token := e.getenv(f.tokenEnv)
		if (f.user == "") != (token == "") {
			return nil, fmt.Errorf("--server: give the robot's name with --user and its token in $%s, or neither (public projects only)", f.tokenEnv)
		}
		images.Scans = &admission.APIScans{URL: f.server, User: f.user, Token: token}
	} else {
		for _, r := range doc.Rules {
			if r.BlockSeverity != "none" && r.Unscanned == "allow" {
				return nil, fmt.Errorf("policy %s: rule %s sets blockSeverity, but without --server no image has a scan to judge: give --server, or set unscanned: block to refuse them", f.policy, r.Pattern)
			}
		}
	}
	cs, err := admission.CheckList()
	if err != nil {
		return nil, err
	}
	return &admission.Webhook{Config: cfg, Checks: cs, Images: images, Log: e.logger}, nil
}

func newAdmissionServeCommand(e *env) *cobra.Command {
	var f admissionFlags
	var addr, tlsCert, tlsKey, tlsDir string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "serve --policy FILE (--tls-cert CRT --tls-key KEY | --tls-generate DIR)",
		Short: "Run the admission webhook alone, judging images in any registry by a policy file",
		Long: `Serve /admission/validate and /admission/mutate over HTTPS on --addr
(the API server calls webhooks over HTTPS only), with /healthz. Decisions
are logged as JSON on stderr; bulwark serve keeps them in its audit
trail instead. SIGINT or SIGTERM stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			wh, err := f.webhook(ctx, e)
			if err != nil {
				return err
			}
			// Without a store, stderr is the record: one JSON line per
			// decision, for the log shipper.
			wh.Log = slog.New(slog.NewJSONHandler(e.stderr, nil))
			if tlsDir != "" {
				files, err := server.GenerateTLS(tlsDir, hosts, time.Now())
				if err != nil {
					return err
				}
				tlsCert, tlsKey = files.Cert, files.Key
				fmt.Fprintf(e.stderr, "TLS with a generated CA: the webhook configurations need its caBundle: bulwark admission install --print --ca-file %s --url https://%s\n", files.CA, addr)
			}
			if tlsCert == "" {
				return errors.New("the API server calls webhooks over HTTPS only: give --tls-cert and --tls-key, or --tls-generate DIR")
			}
			tc, err := server.TLSConfig(tlsCert, tlsKey)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("--addr %s: %w (choose another --addr)", addr, err)
			}
			mux := http.NewServeMux()
			mux.Handle("POST /admission/validate", wh.Handler(false))
			mux.Handle("POST /admission/mutate", wh.Handler(true))
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
			hs := &http.Server{Handler: mux, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(e.stderr, "bulwark admission webhook on https://%s (policy %s)\n", ln.Addr(), f.policy)
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(tls.NewListener(ln, tc)) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return hs.Shutdown(shutdown)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8443", "address to listen on")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "the server certificate (PEM; with --tls-key)")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	cmd.Flags().StringVar(&tlsDir, "tls-generate", "", "generate a CA and a certificate for --hosts in DIR/tls (the caBundle is DIR/tls/ca.crt)")
	cmd.Flags().StringSliceVar(&hosts, "hosts", []string{"localhost", "127.0.0.1"}, "names and addresses the generated certificate covers (the webhook Service's DNS name in a cluster)")
	cmd.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	cmd.MarkFlagsMutuallyExclusive("tls-cert", "tls-generate")
	return cmd
}

func newAdmissionInstallCommand(e *env) *cobra.Command {
	var in admission.Install
	var print bool
	var caFile, policyFile, tlsDir string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "install --print --url https://HOST:PORT (--ca-file CA.pem | --tls-generate DIR)",
		Short: "Write the webhook configurations for kubectl apply",
		Long: `Print a MutatingWebhookConfiguration and a ValidatingWebhookConfiguration
that send workloads (pods, ephemeral containers, exec and attach, and every
kind with a pod template) to bulwark at --url. They fail closed
(failurePolicy: Fail), time out below the API server's limit, declare
sideEffects: NoneOnDryRun, and leave out kube-system, kube-public,
kube-node-lease, bulwark's own --namespace and namespaces labelled
bulwark.dev/admission=disabled, so a broken webhook cannot lock the
cluster out of its own recovery. Apply them with kubectl apply -f -.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !print {
				return errors.New("bulwark does not change clusters itself: give --print and pipe it to kubectl apply -f -")
			}
			if tlsDir != "" {
				files, err := server.GenerateTLS(tlsDir, hosts, time.Now())
				if err != nil {
					return err
				}
				caFile = files.CA
				fmt.Fprintf(e.stderr, "generated a CA and a certificate for %s in %s: start the webhook with --tls-generate %s\n", strings.Join(hosts, ", "), files.CA, tlsDir)
			}
			if caFile == "" {
				return errors.New("no CA: give --ca-file (the CA that signed the webhook's certificate) or --tls-generate DIR")
			}
			ca, err := os.ReadFile(caFile)
			if err != nil {
				return fmt.Errorf("--ca-file: %w", err)
			}
			in.CABundle = ca
			if policyFile != "" {
				doc, _, err := loadPolicyDocument(policyFile)
				if err != nil {
					return err
				}
				cfg, err := admission.ParseConfig(doc.Admission)
				if err != nil {
					return fmt.Errorf("policy %s: %w", policyFile, err)
				}
				in.TimeoutSeconds = cfg.TimeoutSeconds
			}
			b, err := in.Manifests()
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the configurations (YAML) on stdout")
	cmd.Flags().StringVar(&in.URL, "url", "", "where the API server reaches the webhook: https://HOST:PORT (bulwark serve or bulwark admission serve)")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM of the CA that signed the webhook's certificate (serve --tls-generate writes DATA/tls/ca.crt)")
	cmd.Flags().StringVar(&tlsDir, "tls-generate", "", "generate the CA and certificate for --hosts in DIR/tls and use that CA")
	cmd.Flags().StringSliceVar(&hosts, "hosts", []string{"localhost", "127.0.0.1"}, "names the generated certificate covers")
	cmd.Flags().StringVar(&in.Namespace, "namespace", "bulwark", "bulwark's own namespace, which the webhook leaves out")
	cmd.Flags().StringVar(&policyFile, "policy", "", "take timeoutSeconds from this policy's admission section")
	cmd.Flags().BoolVar(&in.FailOpen, "fail-open", false, "failurePolicy: Ignore: admit everything while the webhook is down (not recommended)")
	cmd.MarkFlagRequired("url")
	cmd.MarkFlagsMutuallyExclusive("ca-file", "tls-generate")
	return cmd
}

func newAdmissionAuditCommand(e *env) *cobra.Command {
	var f admissionFlags
	var kubeconfig, format string
	cmd := &cobra.Command{
		Use:   "audit --kubeconfig FILE --policy FILE",
		Short: "Report which workloads running in a cluster the policy would refuse today",
		Long: `List the workloads of every namespace (the top-level ones: a Deployment,
not its ReplicaSets and Pods) and judge each as the webhook would admit it
now, after new advisories or a key rotation. Exit 0 when every workload
would be admitted, 1 when some would be refused, 2 on errors. Formats:
table, json, policyreport (wgpolicyk8s.io/v1alpha2 PolicyReports, one per
namespace, in a List).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch format {
			case "table", "json", "policyreport":
			default:
				return fmt.Errorf("--format %q: want table, json or policyreport", format)
			}
			if kubeconfig == "" {
				kubeconfig = e.getenv("KUBECONFIG")
			}
			if kubeconfig == "" {
				return errors.New("no cluster: give --kubeconfig (or set KUBECONFIG)")
			}
			c, err := admission.LoadKubeconfig(kubeconfig)
			if err != nil {
				return err
			}
			wh, err := f.webhook(cmd.Context(), e)
			if err != nil {
				return err
			}
			rs, err := wh.AuditCluster(cmd.Context(), c)
			if err != nil {
				return err
			}
			switch format {
			case "table":
				err = admission.WriteAuditTable(e.stdout, rs)
			case "json":
				var b []byte
				if b, err = json.MarshalIndent(map[string]any{"results": rs}, "", "  "); err == nil {
					_, err = fmt.Fprintf(e.stdout, "%s\n", b)
				}
			case "policyreport":
				var b []byte
				if b, err = admission.PolicyReports(rs, time.Now()); err == nil {
					_, err = fmt.Fprintf(e.stdout, "%s\n", b)
				}
			}
			if err != nil {
				return err
			}
			for _, r := range rs {
				if !r.Allowed {
					return exitError{code: ExitFindings}
				}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG); its current context is used")
	cmd.Flags().StringVar(&format, "format", "table", "table, json or policyreport")
	return cmd
}
