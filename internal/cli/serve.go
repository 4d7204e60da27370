package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/admission"
	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/scanner"
	"bulwark.dev/bulwark/internal/server"
)

func newServeCommand(e *env) *cobra.Command {
	var addr, data, database, blobs, configFile, tlsCert, tlsKey string
	var slaf slaFlags
	var bench server.Benchmarks
	var inv server.Inventory
	var tlsGenerate bool
	var workers int
	var lease, scanTimeout time.Duration
	var db dbFlag
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the bulwark server: a policy-enforcing OCI registry with its API",
		Long: `Serve an OCI Distribution registry (/v2/), health (/healthz), readiness
(/readyz) and Prometheus metrics (/metrics) on --addr. State lives in
--data: blobs and, unless --database names a PostgreSQL URL, the SQLite
database. Several replicas may share one PostgreSQL database and one blob
directory. SIGINT or SIGTERM stops it gracefully.

On the first start it creates the administrator "admin", with the
password in BULWARK_ADMIN_PASSWORD or a generated one printed once.
Registry clients log in with docker login (bearer tokens from
/auth/token) or send Basic credentials.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			dbPath, err := db.resolve(e)
			if err != nil {
				return err
			}
			slaPolicy, err := slaf.policy()
			if err != nil {
				return err
			}
			defaultPolicy := ""
			var admissionCfg *admission.Config
			var registryHosts []string
			var siem []server.SIEMTarget
			var retention time.Duration
			if configFile != "" {
				fc, err := server.LoadConfig(configFile)
				if err != nil {
					return err
				}
				defaultPolicy, siem = string(fc.PullPolicy), fc.SIEM
				retention, _ = fc.Retention() // checked by LoadConfig
				admissionCfg, _ = admission.ParseConfig(fc.Admission)
				registryHosts = fc.RegistryHosts
			}
			// A password that would be refused must fail before anything
			// is created, as a busy port does.
			if pw := e.getenv("BULWARK_ADMIN_PASSWORD"); pw != "" && len(pw) < identity.MinPassword {
				return fmt.Errorf("BULWARK_ADMIN_PASSWORD: %w; nothing was created", identity.ErrShortPassword)
			}
			// Listen first: a port in use must fail before anything is
			// initialised (an administrator created, a password printed).
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("--addr %s: %w (is another server running there? choose another --addr)", addr, err)
			}
			defer ln.Close()
			registryHosts = append(registryHosts, addr, ln.Addr().String())
			if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
				registryHosts = append(registryHosts, "localhost:"+port, "127.0.0.1:"+port)
			}
			srv, err := server.New(ctx, server.Config{DataDir: data, Database: database, Blobs: blobs, Logger: e.logger,
				VulnDB: dbPath, Workers: workers, ScanTimeout: scanTimeout, Version: Version(), DefaultPolicy: defaultPolicy, ScanLease: lease, SIEM: siem, AuditRetention: retention,
				SLA: slaPolicy, Benchmarks: bench, Inventory: inv,
				Admission: admissionCfg, RegistryHosts: registryHosts,
				AdminPassword: e.getenv("BULWARK_ADMIN_PASSWORD"),
				OnAdminPassword: func(pw string) {
					fmt.Fprintf(e.stderr, "First start: created the administrator \"admin\" with the password\n\n    %s\n\nIt is shown only this once. Set BULWARK_ADMIN_PASSWORD for unattended installs.\n", pw)
				}})
			if err != nil {
				return err
			}
			defer srv.Close()
			if _, err := os.Stat(dbPath); err != nil {
				fmt.Fprintf(e.stderr, "warning: no vulnerability database at %s: pushed images cannot be scanned, and the default pull policy refuses unscanned images. Install one with 'bulwark db update' (or 'bulwark db import' offline); scans start by themselves.\n", dbPath)
			}
			srv.Start(ctx)
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second}
			scheme := "http"
			if tlsGenerate {
				host, _, _ := net.SplitHostPort(addr)
				hosts := []string{"localhost", "127.0.0.1"}
				if host != "" && host != "localhost" && host != "127.0.0.1" && host != "0.0.0.0" {
					hosts = append([]string{host}, hosts...)
				}
				files, err := server.GenerateTLS(data, hosts, time.Now())
				if err != nil {
					return err
				}
				tlsCert, tlsKey = files.Cert, files.Key
				fmt.Fprintf(e.stderr, "TLS with a generated CA: clients trust %s (docker: copy it to /etc/docker/certs.d/%s/ca.crt)\n", files.CA, addr)
			}
			if tlsCert != "" {
				if hs.TLSConfig, err = server.TLSConfig(tlsCert, tlsKey); err != nil {
					return err
				}
				ln = tls.NewListener(ln, hs.TLSConfig)
				scheme = "https"
			}
			fmt.Fprintf(e.stderr, "bulwark serving on %s://%s (data in %s)\n", scheme, ln.Addr(), data)
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:5000", "address to listen on")
	cmd.Flags().StringVar(&data, "data", "bulwark-data", "data directory (blobs, SQLite database)")
	cmd.Flags().StringVar(&database, "database", "", "PostgreSQL URL (postgres://…); default: SQLite in --data")
	cmd.Flags().StringVar(&blobs, "blobs", "", "S3-compatible blob storage: s3://HOST[:PORT]/BUCKET[/PREFIX][?tls=false&region=R], credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (default: --data)")
	cmd.Flags().IntVar(&workers, "scan-workers", 2, "scans run at once on this replica")
	cmd.Flags().DurationVar(&scanTimeout, "scan-timeout", scanner.DefaultJobTimeout, "one image's scan deadline; a scan past it fails (visible in the scans API) instead of holding its worker")
	cmd.Flags().DurationVar(&lease, "scan-lease", 2*time.Minute, "how long a scan job stays with a worker without a heartbeat; a killed replica's jobs are taken again after it")
	cmd.Flags().StringVar(&configFile, "config", "", "configuration file (YAML): the default pull policy, SIEM export targets")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	cmd.Flags().BoolVar(&tlsGenerate, "tls-generate", false, "serve HTTPS with a certificate from a CA bulwark generates in --data/tls (clients trust tls/ca.crt)")
	slaf.register(cmd)
	cmd.Flags().StringVar(&bench.DockerSchedule, "cis-docker-schedule", "@weekly", "cron schedule of the CIS Docker Benchmark of this host's engine (\"\" turns it off); runs are kept with their reports: GET /api/v1/benchmarks")
	cmd.Flags().StringVar(&bench.DockerHost, "cis-docker-host", "", "the engine the CIS Docker Benchmark judges (default DOCKER_HOST, else the local socket)")
	cmd.Flags().StringVar(&bench.KubernetesSchedule, "cis-kubernetes-schedule", "", "cron schedule of the CIS Kubernetes Benchmark on this node (needs --cis-kubernetes-config-dir; @weekly is the usual)")
	cmd.Flags().StringVar(&bench.KubernetesConfigDir, "cis-kubernetes-config-dir", "", "kube-bench's cfg directory for the CIS Kubernetes Benchmark")
	cmd.Flags().StringVar(&bench.KubernetesBenchmark, "cis-kubernetes-benchmark", "", "the kube-bench benchmark to run (default: by the running API server's or kubelet's version)")
	cmd.Flags().StringVar(&inv.Kubeconfig, "inventory-kubeconfig", "", "kubeconfig of a cluster whose running pods count in the patch clock: a clock stops only when no tag names and no pod runs a digest with the finding")
	cmd.Flags().StringVar(&inv.Name, "inventory-cluster", "", "the cluster's name in the inventory (default: the kubeconfig's current context)")
	cmd.Flags().StringVar(&inv.Schedule, "inventory-schedule", server.DefaultInventorySchedule, "cron schedule of listing the cluster's pods")
	cmd.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	cmd.MarkFlagsMutuallyExclusive("tls-cert", "tls-generate")
	db.register(cmd)
	return cmd
}
