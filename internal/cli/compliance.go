package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/compliance"
	"bulwark.dev/bulwark/internal/sign"
)

// CompliancePredicate is the predicate type of a signed compliance
// report (bulwark report compliance --sign).
const CompliancePredicate = "https://bulwark.dev/attestation/compliance/v1"

func newReportComplianceCommand(e *env) *cobra.Command {
	var (
		framework, frameworkFile, baseline     string
		checkFiles                             []string
		dockerBench, kubeBench                 string
		format, output, at, keyFile, signature string
		list                                   bool
		exitCode                               int
		data, database                         string
		auditKeys, previous                    []string
		slaf                                   slaFlags
	)
	cmd := &cobra.Command{
		Use:   "compliance --framework NAME [--checks FILE...] [--docker-bench FILE] [--kube-bench FILE] [--data DIR | --database URL]",
		Short: "A framework's controls judged from check results and CIS benchmark runs, with the evidence",
		Long: `Judge every control of a compliance framework from bulwark's evidence: check
reports (bulwark check / check image / check docker --format json), a CIS
Docker Benchmark run (bulwark cis docker --format json, or docker-bench-
security's JSON log) and a CIS Kubernetes Benchmark run (bulwark cis kubernetes
--format json, or kube-bench --json), and with --data or --database the
platform facts in bulwark serve's store (audit trail retention and chain,
scan coverage, signatures, the patch clock, admission reviews, runtime
detections). Each control is pass (evidence passes, none fails), fail (some
evidence fails), not-applicable (its checks judged nothing) or manual (no
automated evidence: a person assesses it), with the evidence that decided it:
which check, which object, which file and line.

Frameworks are data: the built-in ones (--list) are bulwark's check-to-control
mappings (CIS Docker, CIS Kubernetes, NSA/CISA Kubernetes Hardening Guide,
NIST SP 800-190, NIST SP 800-53 rev5 with --baseline moderate or high, PCI DSS
v4.0, HIPAA Security Rule); --framework-file reads your own in the same form.

Formats: json, csv, html (self-contained, prints well), oscal (an OSCAL
assessment-results document). The same inputs and --at give the same bytes.
--sign KEY writes a DSSE-signed in-toto statement about the report (-o needed),
which bulwark verify-blob-attestation or cosign verify-blob-attestation checks
offline.

Exit status: 0 when the report was written (with --exit-code N: N when a
control fails), 2 on bad input.`,
		Example: `  bulwark check manifests/ --format json > checks.json
  bulwark cis docker --format json -o docker-bench.json
  bulwark report compliance --framework nist-800-53 --baseline moderate --checks checks.json --docker-bench docker-bench.json --format html -o nist.html
  bulwark report compliance --framework cis-docker --docker-bench docker-bench.json --format oscal -o ar.json --sign cosign.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if list {
				ids, err := compliance.Builtin()
				if err != nil {
					return err
				}
				for _, id := range ids {
					fw, err := compliance.Load(id)
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "%-22s %s %s (%d controls)\n", id, fw.Name, fw.Version, len(fw.Controls))
				}
				return nil
			}
			var fw *compliance.Framework
			var err error
			switch {
			case framework != "" && frameworkFile != "":
				return fmt.Errorf("--framework and --framework-file: give one")
			case frameworkFile != "":
				fw, err = compliance.LoadFile(frameworkFile)
			case framework != "":
				fw, err = compliance.Load(framework)
			default:
				return fmt.Errorf("no framework: give --framework NAME (--list shows them) or --framework-file FILE")
			}
			if err != nil {
				return err
			}
			if baseline != "" {
				if fw, err = fw.WithBaseline(baseline); err != nil {
					return err
				}
			}
			var ev compliance.EvidenceSet
			for _, f := range checkFiles {
				if err := ev.AddChecks(f); err != nil {
					return err
				}
			}
			if dockerBench != "" {
				if err := ev.AddDockerBench(dockerBench); err != nil {
					return err
				}
			}
			if kubeBench != "" {
				if err := ev.AddKubeBench(kubeBench); err != nil {
					return err
				}
			}
			when := time.Now()
			if at != "" {
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at %q: want an RFC 3339 time such as 2026-12-01T08:00:00Z", at)
				}
			}
			if data != "" || database != "" {
				if err := addPlatformFacts(cmd.Context(), &ev, data, database, auditKeys, slaf, when); err != nil {
					return err
				}
			}
			if len(ev.Inputs) == 0 {
				return fmt.Errorf("no evidence: give --checks, --docker-bench, --kube-bench or the server's store (--data or --database) (a report with no evidence would show every control unjudged)")
			}
			if keyFile != "" && output == "" {
				return fmt.Errorf("--sign needs -o: the signature is about the report file")
			}
			rep := compliance.NewReport(fw, &ev, when, "bulwark "+Version())
			if err := rep.WithTrend(previous); err != nil {
				return err
			}
			var buf bytes.Buffer
			switch format {
			case "json":
				err = compliance.WriteJSON(&buf, rep)
			case "csv":
				err = compliance.WriteCSV(&buf, rep)
			case "html":
				err = compliance.WriteHTML(&buf, rep)
			case "oscal":
				err = compliance.WriteOSCAL(&buf, rep)
			default:
				return fmt.Errorf("--format %q: want json, csv, html or oscal", format)
			}
			if err != nil {
				return err
			}
			if output == "" {
				_, err = e.stdout.Write(buf.Bytes())
			} else {
				err = os.WriteFile(output, buf.Bytes(), 0o644)
			}
			if err != nil {
				return err
			}
			if keyFile != "" {
				s, err := loadSigner(e, keyFile)
				if err != nil {
					return err
				}
				pred, _ := json.Marshal(map[string]any{"framework": rep.Framework, "generated": rep.Generated, "score": rep.Score, "inputs": rep.Inputs, "format": format})
				env, err := sign.AttestBlob(s, filepath.Base(output), buf.Bytes(), CompliancePredicate, pred)
				if err != nil {
					return err
				}
				if signature == "" {
					signature = output + ".dsse.json"
				}
				if err := os.WriteFile(signature, env, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "signed: %s (bulwark verify-blob-attestation --key PUB --signature %s %s)\n", signature, signature, output)
			}
			if exitCode != 0 && rep.Score.Fail > 0 {
				return exitError{exitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&framework, "framework", "", "a built-in framework (--list shows them)")
	fl.StringVar(&frameworkFile, "framework-file", "", "your own framework file (YAML: name, version, controls: {CHECK-ID: [CONTROL...]}, titles)")
	fl.StringVar(&baseline, "baseline", "", "NIST SP 800-53 baseline: moderate or high (every control of it, manual where no check evidences it)")
	fl.StringArrayVar(&checkFiles, "checks", nil, "a bulwark check report (--format json); repeatable")
	fl.StringVar(&dockerBench, "docker-bench", "", "a CIS Docker Benchmark JSON log (bulwark cis docker --format json, or docker-bench-security's)")
	fl.StringVar(&kubeBench, "kube-bench", "", "a CIS Kubernetes Benchmark JSON report (bulwark cis kubernetes --format json, or kube-bench --json)")
	fl.StringVar(&data, "data", "", "bulwark serve's data directory: judge the platform facts (audit trail, scans, signatures, patch clock, admission, runtime) from its store")
	fl.StringVar(&database, "database", "", "the PostgreSQL URL of bulwark serve's store (instead of --data)")
	fl.StringArrayVar(&auditKeys, "audit-key", nil, "a trusted audit checkpoint key (default DIR/audit.key.pub with --data); repeatable")
	slaf.register(cmd)
	fl.StringArrayVar(&previous, "previous", nil, "an earlier JSON report of the framework, for the trend (score and failing controls over time); repeatable")
	fl.StringVar(&format, "format", "json", "json, csv, html or oscal")
	fl.StringVarP(&output, "output", "o", "", "write the report to this file (default stdout)")
	fl.StringVar(&at, "at", "", "the assessment's time, RFC 3339 (default now): fix it for byte-identical reports")
	fl.StringVar(&keyFile, "sign", "", "sign the report with this bulwark or cosign private key (password in $BULWARK_PASSWORD or $COSIGN_PASSWORD)")
	fl.StringVar(&signature, "signature-output", "", "where the DSSE envelope goes (default OUTPUT.dsse.json)")
	fl.IntVar(&exitCode, "exit-code", 0, "exit with this code when a control fails")
	fl.BoolVar(&list, "list", false, "list the built-in frameworks and exit")
	return cmd
}

func newVerifyBlobAttestationCommand(e *env) *cobra.Command {
	var (
		keyFiles       []string
		signature, typ string
	)
	cmd := &cobra.Command{
		Use:   "verify-blob-attestation FILE --key PUB --signature ENVELOPE",
		Short: "Verify a signed statement about a file (a signed compliance report), offline",
		Long: `Exit 0 and print the in-toto statement only when ENVELOPE (a DSSE envelope,
as bulwark report compliance --sign and cosign attest-blob write) is signed by
one of the keys, has the predicate type (--type; default the compliance
report's) and names exactly FILE's SHA-256; otherwise exit 1 with the reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(keyFiles) == 0 || signature == "" {
				return fmt.Errorf("give --key PUB and --signature ENVELOPE")
			}
			pt := CompliancePredicate
			if typ != "" {
				var err error
				if pt, err = sign.PredicateType(typ); err != nil {
					return err
				}
			}
			keys, err := loadVerifiers(keyFiles)
			if err != nil {
				return err
			}
			blob, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			env, err := os.ReadFile(signature)
			if err != nil {
				return err
			}
			st, err := sign.VerifyBlobAttestation(env, blob, keys, pt)
			if err != nil {
				fmt.Fprintf(e.stderr, "bulwark: %s: %v\n", args[0], err)
				return exitError{ExitFindings}
			}
			out, _ := json.MarshalIndent(st, "", "  ")
			fmt.Fprintf(e.stdout, "%s\n", out)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyFiles, "key", nil, "a trusted public key (PEM); repeatable")
	cmd.Flags().StringVar(&signature, "signature", "", "the DSSE envelope")
	cmd.Flags().StringVar(&typ, "type", "", "the predicate type (default "+CompliancePredicate+")")
	return cmd
}

// addPlatformFacts judges the platform facts from bulwark serve's store.
func addPlatformFacts(ctx context.Context, ev *compliance.EvidenceSet, data, database string, keys []string, slaf slaFlags, at time.Time) error {
	if data != "" && database != "" {
		return fmt.Errorf("--data and --database: give one")
	}
	pol, err := slaf.policy()
	if err != nil {
		return err
	}
	if len(keys) == 0 && data != "" {
		if k := filepath.Join(data, "audit.key.pub"); statOK(k) {
			keys = []string{k}
		}
	}
	trusted, err := trustedAuditKeys("--audit-key", keys)
	if err != nil {
		return err
	}
	st, err := openServerStore(ctx, data, database)
	if err != nil {
		return err
	}
	defer st.Close()
	return ev.AddPlatform(ctx, compliance.Platform{Store: st, Where: st.Where(), Trusted: trusted, SLA: pol, At: at})
}

func statOK(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
