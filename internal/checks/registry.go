package checks

import (
	"strings"

	"bulwark.dev/bulwark/internal/severity"
)

// hardenedPod passes every workload check; bad examples change one thing.
const hardenedPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile:
      type: RuntimeDefault
    appArmorProfile:
      type: RuntimeDefault
  containers:
  - name: web
    image: registry.example.com/shop/web:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    ports:
    - containerPort: 8080
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: ["ALL"]
    resources:
      limits:
        cpu: 500m
        memory: 256Mi
`

// podWith returns the hardened pod with old replaced by new.
func podWith(old, new string) string {
	if !strings.Contains(hardenedPod, old) {
		panic("example edit does not apply: " + old) // caught by the examples test
	}
	return strings.Replace(hardenedPod, old, new, 1)
}

const hardenedDockerfile = `FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /app .

FROM gcr.io/distroless/static-debian12:nonroot@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
COPY --from=build /app /app
USER 65532:65532
HEALTHCHECK CMD ["/app", "health"]
ENTRYPOINT ["/app"]
`

func dockerfileWith(old, new string) string {
	if !strings.Contains(hardenedDockerfile, old) {
		panic("example edit does not apply: " + old)
	}
	return strings.Replace(hardenedDockerfile, old, new, 1)
}

const hardenedCompose = `services:
  web:
    image: registry.example.com/shop/web:1.4.2
    user: "10001"
    read_only: true
    cap_drop: [ALL]
    ports: ["8080:8080"]
`

func composeWith(old, new string) string {
	if !strings.Contains(hardenedCompose, old) {
		panic("example edit does not apply: " + old)
	}
	return strings.Replace(hardenedCompose, old, new, 1)
}

const denyAll = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`

// registry is the one list of built-in checks. IDs are never reused.
func registry() []*Check {
	return append(append(append(inputChecks(), builtin()...), imageChecks()...), dockerChecks()...)
}

func builtin() []*Check {
	return []*Check{
		{ID: "BW-K8S-001", Title: "Containers must not run as root", Severity: severity.High, Target: TargetKubernetes,
			Description: "A container running as UID 0 is root inside the container and, after any escape, close to root on the node.",
			Remediation: "Set securityContext.runAsNonRoot: true and a non-zero runAsUser on the pod or each container, and build images with a non-root USER.",
			Good:        hardenedPod, Bad: podWith("    runAsNonRoot: true\n    runAsUser: 10001\n", ""),
			applies: isWorkload, check: checkRunAsNonRoot},
		{ID: "BW-K8S-002", Title: "Root filesystem must be read-only", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "A writable root filesystem lets an attacker drop tools and persist changes inside the container.",
			Remediation: "Set securityContext.readOnlyRootFilesystem: true; mount emptyDir volumes where the application must write.",
			Good:        hardenedPod, Bad: podWith("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
			applies: isWorkload, check: checkReadOnlyRoot},
		{ID: "BW-K8S-003", Title: "Privilege escalation must be disallowed", Severity: severity.High, Target: TargetKubernetes,
			Description: "Without allowPrivilegeEscalation: false, setuid binaries can gain more privileges than the process started with.",
			Remediation: "Set securityContext.allowPrivilegeEscalation: false on every container.",
			Good:        hardenedPod, Bad: podWith("      allowPrivilegeEscalation: false\n", ""),
			applies: isWorkload, check: checkPrivEsc},
		{ID: "BW-K8S-004", Title: "Containers must not be privileged", Severity: severity.Critical, Target: TargetKubernetes,
			Description: "A privileged container has every capability and access to the host's devices: it is root on the node.",
			Remediation: "Remove securityContext.privileged: true; grant only the specific capability needed.",
			Good:        hardenedPod, Bad: podWith("      allowPrivilegeEscalation: false\n", "      allowPrivilegeEscalation: false\n      privileged: true\n"),
			applies: isWorkload, check: checkPrivileged},
		{ID: "BW-K8S-005", Title: "Containers must drop all capabilities", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "Container runtimes grant a default set of Linux capabilities (NET_RAW among them) that most applications never need.",
			Remediation: "Set securityContext.capabilities.drop: [ALL] and add back only what the application needs.",
			Good:        hardenedPod, Bad: podWith(`drop: ["ALL"]`, `drop: ["NET_RAW"]`),
			applies: isWorkload, check: checkDropAll},
		{ID: "BW-K8S-006", Title: "Containers must not add dangerous capabilities", Severity: severity.High, Target: TargetKubernetes,
			Description: "Capabilities such as SYS_ADMIN, NET_ADMIN, SYS_PTRACE or SYS_MODULE give control over the node or other workloads.",
			Remediation: "Remove the capability from capabilities.add; redesign the workload so it does not need it.",
			Good:        hardenedPod, Bad: podWith(`drop: ["ALL"]`, `drop: ["ALL"]`+"\n        add: [\"SYS_ADMIN\"]"),
			applies: isWorkload, check: checkDangerousCaps},
		{ID: "BW-K8S-007", Title: "A seccomp profile must be set", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "Without a seccomp profile (or with Unconfined) every system call is reachable, widening the kernel attack surface.",
			Remediation: "Set securityContext.seccompProfile.type: RuntimeDefault (or Localhost with a reviewed profile) on the pod.",
			Good:        hardenedPod, Bad: podWith("      type: RuntimeDefault\n    appArmorProfile:", "      type: Unconfined\n    appArmorProfile:"),
			applies: isWorkload, check: checkSeccomp},
		{ID: "BW-K8S-008", Title: "An AppArmor profile must be set", Severity: severity.Low, Target: TargetKubernetes,
			Description: "AppArmor confines file and capability access; unconfined containers lose that layer on nodes that support it.",
			Remediation: "Set securityContext.appArmorProfile.type: RuntimeDefault (Kubernetes 1.30+) or the container.apparmor.security.beta.kubernetes.io annotation.",
			Good:        hardenedPod, Bad: podWith("    appArmorProfile:\n      type: RuntimeDefault\n", "    appArmorProfile:\n      type: Unconfined\n"),
			applies: isWorkload, check: checkAppArmor},
		{ID: "BW-K8S-009", Title: "SELinux must not be disabled or overridden", Severity: severity.High, Target: TargetKubernetes,
			Description: "The spc_t type runs the container unconfined by SELinux; custom users or roles bypass the policy's intent.",
			Remediation: "Remove seLinuxOptions.type: spc_t and user/role overrides; set only level if needed.",
			Good:        hardenedPod, Bad: podWith("    runAsNonRoot: true\n", "    runAsNonRoot: true\n    seLinuxOptions:\n      type: spc_t\n"),
			applies: isWorkload, check: checkSELinux},
		{ID: "BW-K8S-010", Title: "Untrusted workloads must run in a sandbox runtime", Severity: severity.High, Target: TargetKubernetes,
			Description: "Workloads labelled untrusted (bulwark.dev/untrusted=true by default) must not share the host kernel directly; gVisor or Kata isolate them.",
			Remediation: "Set runtimeClassName to a sandboxed runtime class (gvisor/runsc, kata).",
			Good:        podWith("  namespace: shop\n", "  namespace: shop\n  labels:\n    bulwark.dev/untrusted: \"true\"\n") + "  runtimeClassName: gvisor\n",
			Bad:         podWith("  namespace: shop\n", "  namespace: shop\n  labels:\n    bulwark.dev/untrusted: \"true\"\n"),
			applies:     isWorkload, check: checkSandbox},
		{ID: "BW-K8S-011", Title: "Workloads must not share host namespaces", Severity: severity.High, Target: TargetKubernetes,
			Description: "hostNetwork, hostPID and hostIPC expose the node's network stack, processes and IPC to the container.",
			Remediation: "Remove hostNetwork, hostPID and hostIPC from the pod spec.",
			Good:        hardenedPod, Bad: podWith("  automountServiceAccountToken: false\n", "  automountServiceAccountToken: false\n  hostPID: true\n"),
			applies: isWorkload, check: checkHostNamespaces},
		{ID: "BW-K8S-012", Title: "Sensitive host paths must not be mounted", Severity: severity.High, Target: TargetKubernetes,
			Description: "hostPath volumes of /, /etc, /proc, /var/run/docker.sock, the kubelet's or the runtime's directories give control of the node.",
			Remediation: "Use persistent volumes, configMaps or projected volumes instead of hostPath.",
			Good:        hardenedPod, Bad: hardenedPod + "  volumes:\n  - name: sock\n    hostPath:\n      path: /var/run/docker.sock\n",
			applies: isWorkload, check: checkHostPath},
		{ID: "BW-K8S-013", Title: "Containers must not bind host ports", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "hostPort exposes the container on every address of the node, bypassing Services and NetworkPolicies.",
			Remediation: "Remove hostPort and expose the workload through a Service.",
			Good:        hardenedPod, Bad: podWith("    - containerPort: 8080\n", "    - containerPort: 8080\n      hostPort: 8080\n"),
			applies: isWorkload, check: checkHostPort},
		{ID: "BW-K8S-014", Title: "Services should not be exposed through NodePort or LoadBalancer", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "NodePort and LoadBalancer services are reachable from outside the cluster; exposure should go through a reviewed ingress.",
			Remediation: "Use a ClusterIP service behind an Ingress or gateway with authentication and TLS.",
			Good:        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n",
			Bad:         "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n",
			applies:     isService, check: checkServiceExposure},
		{ID: "BW-K8S-015", Title: "Containers must have CPU and memory limits", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "Without limits one container can starve its neighbours (denial of service).",
			Remediation: "Set resources.limits.cpu and resources.limits.memory on every container.",
			Good:        hardenedPod, Bad: podWith("        cpu: 500m\n", ""),
			applies: isWorkload, check: checkLimits},
		{ID: "BW-K8S-016", Title: "Images must be pinned by digest", Severity: severity.Low, Target: TargetKubernetes,
			Description: "A tag can be moved to other content; only a digest names exactly what was scanned and signed.",
			Remediation: "Reference images as name@sha256:... (bulwark's admission webhook can pin them).",
			Good:        hardenedPod, Bad: podWith("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", ""),
			applies: isWorkload, check: checkDigest},
		{ID: "BW-K8S-017", Title: "Images must not use the latest tag", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "latest (or no tag) changes under the workload: rollouts and rollbacks become unpredictable.",
			Remediation: "Use an explicit version tag, ideally with a digest.",
			Good:        hardenedPod, Bad: podWith("web:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "web:latest"),
			applies: isWorkload, check: checkLatest},
		{ID: "BW-K8S-018", Title: "Service account tokens should not be mounted automatically", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "A mounted token lets a compromised container call the Kubernetes API with the service account's rights.",
			Remediation: "Set automountServiceAccountToken: false on the pod (or the service account) unless it calls the API.",
			Good:        hardenedPod, Bad: podWith("  automountServiceAccountToken: false\n", ""),
			applies: isWorkload, check: checkAutomount},
		{ID: "BW-K8S-019", Title: "Secrets must not be written into environment variables", Severity: severity.High, Target: TargetKubernetes,
			Description: "Literal passwords, tokens and keys in the manifest end up in version control, the API server and process listings.",
			Remediation: "Store them in a Secret and use valueFrom.secretKeyRef or a mounted secret volume.",
			Good:        podWith("    ports:\n", "    env:\n    - name: DB_PASSWORD\n      valueFrom:\n        secretKeyRef: {name: db, key: password}\n    ports:\n"),
			Bad:         podWith("    ports:\n", "    env:\n    - name: DB_PASSWORD\n      value: hunter2\n    ports:\n"),
			applies:     isWorkload, check: checkEnvSecrets},
		{ID: "BW-K8S-020", Title: "Secrets should be mounted as files, not environment variables", Severity: severity.Low, Target: TargetKubernetes,
			Description: "Secrets in environment variables leak through process listings, crash dumps, logs and child processes; mounted files can be restricted and rotated.",
			Remediation: "Mount the Secret as a volume and read the file instead of valueFrom.secretKeyRef or envFrom.secretRef.",
			Good:        hardenedPod,
			Bad:         podWith("    ports:\n", "    env:\n    - name: DB_PASSWORD\n      valueFrom:\n        secretKeyRef: {name: db, key: password}\n    ports:\n"),
			applies:     isWorkload, check: checkSecretEnvRefs},

		{ID: "BW-NET-001", Title: "Namespaces must have a default-deny ingress NetworkPolicy", Severity: severity.High, Target: TargetKubernetesSet,
			Description: "Without a default-deny policy every pod accepts traffic from every other pod in the cluster.",
			Remediation: "Add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress] and no rules, then allow what is needed.",
			Good:        hardenedPod + "---\n" + denyAll, Bad: hardenedPod,
			set: defaultDenyCheck("Ingress")},
		{ID: "BW-NET-002", Title: "Namespaces must have a default-deny egress NetworkPolicy", Severity: severity.Medium, Target: TargetKubernetesSet,
			Description: "Without default-deny egress a compromised pod can reach any address, inside or outside the cluster.",
			Remediation: "Add a NetworkPolicy with podSelector: {} and policyTypes: [Egress] and no rules, then allow DNS and the needed destinations.",
			Good:        hardenedPod + "---\n" + denyAll, Bad: hardenedPod + "---\n" + strings.Replace(denyAll, "[Ingress, Egress]", "[Ingress]", 1),
			set: defaultDenyCheck("Egress")},
		{ID: "BW-NET-003", Title: "NetworkPolicies must not allow all traffic to a whole namespace", Severity: severity.High, Target: TargetKubernetes,
			Description: "A policy that selects every pod (podSelector: {}) and has an empty rule, a peer selecting every namespace, or 0.0.0.0/0 undoes default-deny for the namespace.",
			Remediation: "Select the workloads the rule is for and name the peers (podSelector, namespaceSelector with labels) and the ports.",
			Good:        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: frontend}}\n    ports: [{port: 8080}]\n",
			Bad:         "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: open, namespace: shop}\nspec:\n  podSelector: {}\n  ingress:\n  - {}\n",
			applies:     isNetworkPolicy, check: checkAllowAll},
		{ID: "BW-NET-004", Title: "Egress must go only through the declared egress proxy", Severity: severity.Medium, Target: TargetKubernetes,
			Description: "Regulated environments route outbound traffic through an auditing proxy; egress rules to anywhere else bypass it. Applies when egress proxies are configured.",
			Remediation: "Restrict egress rules to the proxy's address block (and DNS).",
			Good:        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 10.0.99.0/28}}]\n  - ports: [{port: 53, protocol: UDP}]\n",
			Bad:         "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - {}\n",
			applies:     isNetworkPolicy, check: checkEgressProxy},
		{ID: "BW-NET-005", Title: "Mesh namespaces must enforce STRICT mTLS", Severity: severity.High, Target: TargetKubernetesSet,
			Description: "In an Istio mesh, PERMISSIVE mTLS still accepts plain-text traffic; STRICT makes every connection authenticated and encrypted.",
			Remediation: "Add a PeerAuthentication with spec.mtls.mode: STRICT in the namespace (or mesh-wide in istio-system).",
			Good:        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {istio-injection: enabled}\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: shop}\nspec:\n  mtls: {mode: STRICT}\n",
			Bad:         "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {istio-injection: enabled}\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: shop}\nspec:\n  mtls: {mode: PERMISSIVE}\n",
			set:         checkMeshMTLS},
		{ID: "BW-NET-006", Title: "Service target ports must be declared by a selected container", Severity: severity.Low, Target: TargetKubernetesSet,
			Description: "A targetPort that no selected container declares is a misconfiguration that often hides an unintended exposed port.",
			Remediation: "Point targetPort at a declared containerPort (by number or name).",
			Good:        podWith("  namespace: shop\n", "  namespace: shop\n  labels: {app: web}\n") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n",
			Bad:         podWith("  namespace: shop\n", "  namespace: shop\n  labels: {app: web}\n") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 9090}]\n",
			set:         checkServiceTargets},
		{ID: "BW-STO-001", Title: "StorageClasses must request encryption at rest", Severity: severity.High, Target: TargetKubernetesSet,
			Description: "Volumes of PII and cardholder data must be encrypted at rest (AWS EBS encrypted/kmsKeyId, GCE PD disk-encryption-kms-key, Azure Disk encryption set).",
			Remediation: "Add the provisioner's encryption parameters to the StorageClass.",
			Good:        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gp3}\nprovisioner: ebs.csi.aws.com\nparameters: {type: gp3, encrypted: \"true\"}\n",
			Bad:         "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gp3}\nprovisioner: ebs.csi.aws.com\nparameters: {type: gp3}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: shop}\nspec:\n  storageClassName: gp3\n",
			set:         checkStorageEncryption},

		{ID: "BW-DF-001", Title: "The image must not run as root", Severity: severity.High, Target: TargetDockerfile,
			Description: "Without a USER (or with USER root last), the container's process runs as root unless every runtime overrides it.",
			Remediation: "Add USER with a non-root UID in the final stage.",
			Good:        hardenedDockerfile, Bad: dockerfileWith("USER 65532:65532\n", ""),
			applies: isDockerfile, check: checkDockerUser},
		{ID: "BW-DF-002", Title: "The final image should use a minimal base", Severity: severity.Low, Target: TargetDockerfile,
			Description: "Full distributions ship shells, package managers and libraries an attacker can use, and more packages to patch.",
			Remediation: "Build on scratch, distroless, Alpine, Wolfi/Chainguard or UBI micro.",
			Good:        hardenedDockerfile, Bad: dockerfileWith("FROM gcr.io/distroless/static-debian12:nonroot@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "FROM ubuntu:22.04"),
			applies: isDockerfile, check: checkMinimalBase},
		{ID: "BW-DF-003", Title: "Build tools must not ship in the final image", Severity: severity.Medium, Target: TargetDockerfile,
			Description: "Compilers and build tools in a single-stage image help an attacker and add vulnerabilities.",
			Remediation: "Use a multi-stage build: compile in a builder stage and copy only the artifact.",
			Good:        hardenedDockerfile, Bad: "FROM debian:12\nRUN apt-get update && apt-get install -y gcc make && rm -rf /var/lib/apt/lists/*\nCOPY . /src\nUSER 1000\nHEALTHCHECK CMD true\n",
			applies: isDockerfile, check: checkBuildTools},
		{ID: "BW-DF-004", Title: "ADD must not download URLs", Severity: severity.Medium, Target: TargetDockerfile,
			Description: "ADD <url> fetches content without verifying it.",
			Remediation: "Download with curl and verify a checksum, or use ADD --checksum=sha256:...",
			Good:        hardenedDockerfile, Bad: dockerfileWith("COPY --from=build /app /app\n", "COPY --from=build /app /app\nADD https://example.com/tool.tar.gz /opt/\n"),
			applies: isDockerfile, check: checkAddURL},
		{ID: "BW-DF-005", Title: "Downloads must not be piped into a shell", Severity: severity.High, Target: TargetDockerfile,
			Description: "curl | sh runs whatever the server returns at build time, unverified.",
			Remediation: "Download to a file, verify its checksum or signature, then run it.",
			Good:        hardenedDockerfile, Bad: dockerfileWith("WORKDIR /src\n", "WORKDIR /src\nRUN curl -fsSL https://example.com/install.sh | sh\n"),
			applies: isDockerfile, check: checkCurlPipe},
		{ID: "BW-DF-006", Title: "Package manager caches must not be left in the image", Severity: severity.Low, Target: TargetDockerfile,
			Description: "Package lists and caches bloat the image and reveal what was installed from where.",
			Remediation: "apt-get: rm -rf /var/lib/apt/lists/* in the same RUN; apk add --no-cache; yum/dnf clean all; pip --no-cache-dir.",
			Good:        "FROM alpine:3.20\nRUN apk add --no-cache ca-certificates\nUSER 65532\nHEALTHCHECK CMD true\n", Bad: "FROM alpine:3.20\nRUN apk add ca-certificates\nUSER 65532\nHEALTHCHECK CMD true\n",
			applies: isDockerfile, check: checkPackageCache},
		{ID: "BW-DF-007", Title: "Secrets must not be passed through ENV or ARG", Severity: severity.High, Target: TargetDockerfile,
			Description: "ENV values are stored in the image configuration and ARG values in its history: anyone who pulls the image reads them.",
			Remediation: "Use RUN --mount=type=secret at build time and runtime secrets for the container.",
			Good:        hardenedDockerfile, Bad: dockerfileWith("WORKDIR /src\n", "WORKDIR /src\nARG NPM_TOKEN\n"),
			applies: isDockerfile, check: checkDockerSecrets},
		{ID: "BW-DF-008", Title: "The image should declare a HEALTHCHECK", Severity: severity.Low, Target: TargetDockerfile,
			Description: "A health check lets the runtime detect and replace a hung container.",
			Remediation: "Add HEALTHCHECK CMD ... to the final stage (Kubernetes uses probes instead).",
			Good:        hardenedDockerfile, Bad: dockerfileWith("HEALTHCHECK CMD [\"/app\", \"health\"]\n", ""),
			applies: isDockerfile, check: checkHealthcheck},
		{ID: "BW-DF-009", Title: "Base images must not use the latest tag", Severity: severity.Medium, Target: TargetDockerfile,
			Description: "FROM image:latest (or no tag) builds on whatever the tag points to that day.",
			Remediation: "Pin a version tag and a digest.",
			Good:        hardenedDockerfile, Bad: dockerfileWith("FROM golang:1.22 AS build", "FROM golang AS build"),
			applies: isDockerfile, check: checkFromLatest},
		{ID: "BW-DF-010", Title: "The image must not expose remote administration ports", Severity: severity.High, Target: TargetDockerfile,
			Description: "EXPOSE of an SSH, telnet, Docker API, RDP or VNC port means a remote shell into the container; the same rule as BW-IMG-007 on the built image.",
			Remediation: "Remove the EXPOSE and the daemon; use kubectl exec or docker exec for debugging.",
			Good:        hardenedDockerfile, Bad: dockerfileWith("USER 65532:65532\n", "USER 65532:65532\nEXPOSE 8080 22/tcp\n"),
			applies: isDockerfile, check: checkExposeAdmin},

		{ID: "BW-CMP-001", Title: "Compose services must not be privileged", Severity: severity.Critical, Target: TargetCompose,
			Description: "privileged: true gives the container every capability and the host's devices.",
			Remediation: "Remove privileged: true.",
			Good:        hardenedCompose, Bad: composeWith("    read_only: true\n", "    read_only: true\n    privileged: true\n"),
			applies: isCompose, check: checkComposePrivileged},
		{ID: "BW-CMP-002", Title: "Compose services should have a read-only root filesystem", Severity: severity.Medium, Target: TargetCompose,
			Description: "A writable root filesystem lets an attacker modify the container.",
			Remediation: "Set read_only: true and use tmpfs or volumes for writable paths.",
			Good:        hardenedCompose, Bad: composeWith("    read_only: true\n", ""),
			applies: isCompose, check: checkComposeReadOnly},
		{ID: "BW-CMP-003", Title: "Compose services must run as a non-root user", Severity: severity.High, Target: TargetCompose,
			Description: "Without user:, the image's user applies, which is root for most images.",
			Remediation: "Set user: to a non-root UID.",
			Good:        hardenedCompose, Bad: composeWith("    user: \"10001\"\n", ""),
			applies: isCompose, check: checkComposeUser},
		{ID: "BW-CMP-004", Title: "Compose services must not add dangerous capabilities", Severity: severity.High, Target: TargetCompose,
			Description: "cap_add of SYS_ADMIN, NET_ADMIN and the like gives control over the host.",
			Remediation: "Remove the capability from cap_add.",
			Good:        hardenedCompose, Bad: composeWith("    cap_drop: [ALL]\n", "    cap_drop: [ALL]\n    cap_add: [SYS_ADMIN]\n"),
			applies: isCompose, check: checkComposeCapAdd},
		{ID: "BW-CMP-005", Title: "The Docker socket must not be mounted", Severity: severity.Critical, Target: TargetCompose,
			Description: "Access to the Docker (or containerd) socket is root on the host.",
			Remediation: "Remove the socket mount; use a narrowly scoped API proxy if the service really needs it.",
			Good:        hardenedCompose, Bad: composeWith("    cap_drop: [ALL]\n", "    cap_drop: [ALL]\n    volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n"),
			applies: isCompose, check: checkComposeDockerSocket},
		{ID: "BW-CMP-006", Title: "Compose services must not use the host's namespaces", Severity: severity.High, Target: TargetCompose,
			Description: "network_mode: host, pid: host and ipc: host share the host's namespaces.",
			Remediation: "Use the default bridge networking and namespaces.",
			Good:        hardenedCompose, Bad: composeWith("    read_only: true\n", "    read_only: true\n    network_mode: host\n"),
			applies: isCompose, check: checkComposeHostNetwork},
	}
}
