package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/sign"
	verdictpkg "bulwark.dev/bulwark/internal/verdict"
)

// password reads the key password from BULWARK_PASSWORD, COSIGN_PASSWORD
// (scripts written for cosign) or the terminal. It is never logged.
func password(e *env, confirm bool) ([]byte, error) {
	for _, k := range []string{"BULWARK_PASSWORD", "COSIGN_PASSWORD"} {
		if v, ok := lookupEnv(e, k); ok {
			return []byte(v), nil
		}
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("no password: set BULWARK_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be prompted")
	}
	fmt.Fprint(e.stderr, "Enter password for private key: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(e.stderr, "Enter password for private key again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, err
		}
		if string(again) != string(pw) {
			return nil, errors.New("passwords do not match")
		}
	}
	return pw, nil
}

// lookupEnv returns a non-empty environment variable.
func lookupEnv(e *env, k string) (string, bool) {
	v := e.getenv(k)
	return v, v != ""
}

func newKeyCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create and import signing keys (cosign-compatible)"}
	var prefix string
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Generate an ECDSA P-256 key pair: PREFIX.key (encrypted) and PREFIX.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := password(e, true)
			if err != nil {
				return err
			}
			kp, err := sign.GenerateKeyPair(pw)
			if err != nil {
				return err
			}
			return writeKeyPair(e, prefix, kp)
		},
	}
	gen.Flags().StringVar(&prefix, "output-prefix", "bulwark", "write PREFIX.key and PREFIX.pub")
	var importPrefix string
	imp := &cobra.Command{
		Use:   "import KEY",
		Short: "Import an existing cosign private key (re-encrypted with the password given now)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			old, ok := lookupEnv(e, "COSIGN_PASSWORD")
			if !ok {
				return errors.New("set COSIGN_PASSWORD to the imported key's password")
			}
			priv, err := sign.LoadPrivateKey(b, []byte(old))
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			pw, err := password(e, true)
			if err != nil {
				return err
			}
			kp, err := sign.MarshalKeyPair(priv, pw)
			if err != nil {
				return err
			}
			return writeKeyPair(e, importPrefix, kp)
		},
	}
	imp.Flags().StringVar(&importPrefix, "output-prefix", "import", "write PREFIX.key and PREFIX.pub")
	cmd.AddCommand(gen, imp)
	return cmd
}

func writeKeyPair(e *env, prefix string, kp *sign.KeyPair) error {
	for _, f := range []string{prefix + ".key", prefix + ".pub"} {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s exists: refusing to overwrite a key", f)
		}
	}
	if err := os.WriteFile(prefix+".key", kp.PrivatePEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(prefix+".pub", kp.PublicPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Private key written to %s.key\nPublic key written to %s.pub\n", prefix, prefix)
	return nil
}

func newSignCommand(e *env) *cobra.Command {
	var (
		keyFile string
		annots  []string
		reg     registryFlags
		store   storeFlag
	)
	cmd := &cobra.Command{
		Use:   "sign REF --key KEY",
		Short: "Sign an image's digest in its registry (cosign-compatible)",
		Long: `Sign the digest REF names (a tag is resolved first and the digest printed).
The signature is stored as cosign stores it, appended to any existing
signatures: under the tag sha256-<hex>.sig in the same repository, or as
a Sigstore bundle referring to the image through the OCI 1.1 referrers
API (the referrers tag schema where the registry has none), cosign v3's
format. --store auto (the default) writes a bundle when the image already
has bundles and a tag otherwise: cosign looks only at bundles once an
image has any, so this keeps every signer's signature visible to it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := reg.ref(args[0])
			if err != nil {
				return err
			}
			s, err := loadSigner(e, keyFile)
			if err != nil {
				return err
			}
			a := map[string]any{}
			for _, kv := range annots {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("-a %q: want key=value", kv)
				}
				a[k] = v
			}
			if len(a) == 0 {
				a = nil
			}
			d, err := store.sign(cmd.Context(), ref, s, a, reg.remote(cmd.Context())...)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "Signed %s\n", d)
			return nil
		},
	}
	store.register(cmd)
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file (bulwark or cosign format; password from BULWARK_PASSWORD or COSIGN_PASSWORD)")
	cmd.Flags().StringArrayVarP(&annots, "annotation", "a", nil, "annotation key=value for the signature payload (repeatable)")
	reg.register(cmd)
	cmd.MarkFlagRequired("key")
	return cmd
}

func newVerifyCommand(e *env) *cobra.Command {
	var (
		keyFiles   []string
		policyFile string
		reg        registryFlags
	)
	cmd := &cobra.Command{
		Use:   "verify REF (--key PUB... | --policy FILE)",
		Short: "Verify that a trusted key signed exactly the digest REF names",
		Long: `Exit 0 only when a valid signature by one of the trusted keys covers
exactly the digest REF names now. Otherwise exit 1 with the reason: no
signature, not signed by a trusted key, the signed payload names another
digest, a malformed (altered) signature or payload, or a tag that moved
since it was signed. Errors reaching the registry exit 2.

With --policy, the keys and required attestations come from the first
rule whose pattern matches the repository; a repository no rule covers
is refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := reg.ref(args[0])
			if err != nil {
				return err
			}
			opts := reg.remote(cmd.Context())
			if policyFile != "" {
				doc, ev, err := loadPolicyDocument(policyFile)
				if err != nil {
					return err
				}
				d, err := sign.Resolve(ref, opts...)
				if err != nil {
					return err
				}
				ev.Remote = opts
				rule, _ := doc.For(ref.Context().Name())
				dec, err := ev.Evaluate(cmd.Context(), verdictpkg.Subject{Name: d.String(), Digest: d.DigestStr(), Ref: d,
					Scope: "the rule for " + ref.Context().Name(), Scanned: false}, scanlessRule(rule))
				if err != nil {
					return err
				}
				if !dec.Allowed {
					if t, isTag := ref.(name.Tag); isTag && refusedFor(dec, string(sign.NoSignature)) {
						if moved := sign.CheckTagMoved(cmd.Context(), t, d, opts...); moved != nil {
							return verdictExit(e, moved)
						}
					}
					return verdictExit(e, dec.Err())
				}
				fmt.Fprintf(e.stderr, "Verified %s: satisfies %s\n", d, policyFile)
				return nil
			}
			keys, err := loadVerifiers(keyFiles)
			if err != nil {
				return err
			}
			v, err := sign.Verify(cmd.Context(), ref, keys, opts...)
			if err := verdict(e, err); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "Verified %s: signed by %s\n", v.Digest, keyFiles[v.Key])
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyFiles, "key", nil, "trusted public key (repeatable: any of them may have signed)")
	cmd.Flags().StringVar(&policyFile, "policy", "", "verification policy file: which keys sign which repositories, which attestations they need")
	reg.register(cmd)
	cmd.MarkFlagsOneRequired("key", "policy")
	cmd.MarkFlagsMutuallyExclusive("key", "policy")
	return cmd
}

// verdict turns a failed verification into exit 1 with its reason on
// stderr; other errors (the registry, the network) stay errors (exit 2).
func verdict(e *env, err error) error {
	var ve *sign.VerifyError
	if errors.As(err, &ve) {
		fmt.Fprintf(e.stderr, "bulwark: %v\n", ve)
		return exitError{code: ExitFindings}
	}
	return err
}

// verdictExit prints a refusal (a verification failure or a policy
// decision) and exits with findings; other errors pass through.
func verdictExit(e *env, err error) error {
	var ref *verdictpkg.Refusal
	if errors.As(err, &ref) {
		fmt.Fprintf(e.stderr, "bulwark: %v\n", ref)
		return exitError{code: ExitFindings}
	}
	if err != nil && strings.Contains(err.Error(), "fail closed") {
		fmt.Fprintf(e.stderr, "bulwark: %v\n", err)
		return exitError{code: ExitFindings}
	}
	return verdict(e, err)
}

// refusedFor says whether a refusal carries a reason with this ID.
func refusedFor(d verdictpkg.Decision, id string) bool {
	for _, r := range d.Reasons {
		for _, x := range r.IDs {
			if x == id {
				return true
			}
		}
	}
	return false
}

// loadPolicyDocument reads a policy file and checks its keys at once.
func loadPolicyDocument(file string) (*policy.Document, *verdictpkg.Evaluator, error) {
	doc, err := policy.LoadDocument(file)
	if err != nil {
		return nil, nil, err
	}
	ev := &verdictpkg.Evaluator{}
	for i := range doc.Rules {
		if _, err := ev.Keys(&doc.Rules[i]); err != nil {
			return nil, nil, fmt.Errorf("policy %s: rules[%d] (%s): %w", file, i, doc.Rules[i].Pattern, err)
		}
	}
	return doc, ev, nil
}

// scanlessRule is a rule as a command that does not scan judges it:
// signatures, attestations and checks only (bulwark scan judges
// vulnerabilities).
func scanlessRule(r *policy.Rule) *policy.Rule {
	if r == nil {
		return nil
	}
	c := *r
	c.BlockSeverity, c.Unscanned, c.Unmatched, c.RequiredChecks = "none", "allow", "allow", nil
	return &c
}

// registryFlags are the flags of the commands that talk to a registry
// without reading the image: sign, verify, attest, verify-attestation.
type registryFlags struct{ insecure bool }

func (f *registryFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP for a registry that is not on loopback (weakens transport security)")
}

func (f *registryFlags) ref(s string) (name.Reference, error) {
	return name.ParseReference(s, image.NameOptions(f.insecure)...)
}

func (f *registryFlags) remote(ctx context.Context) []remote.Option {
	return image.RemoteOptions(ctx, image.Options{Insecure: f.insecure})
}

// storeFlag is --store: where signatures and attestations are written.
type storeFlag struct{ v string }

func (f *storeFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.v, "store", "auto", "where to write: tag (sha256-<hex>.sig/.att tags), bundle (a Sigstore bundle as an OCI 1.1 referrer, cosign v3's format), both, or auto: bundle when the image already has bundles, else tag")
}

func (f storeFlag) check() error {
	switch f.v {
	case "auto", "tag", "bundle", "both":
		return nil
	}
	return fmt.Errorf("--store %q: want auto, tag, bundle or both", f.v)
}

// resolve picks the places for auto and resolves ref to the digest that
// is signed. cosign (v2.6 and v3) looks only at bundles once an image has
// any, and falls back to the tags when it has none: writing where the
// image's signatures already are keeps every signer's signature visible
// to cosign, and tags are read by every cosign version.
func (f storeFlag) resolve(ctx context.Context, ref name.Reference, opts ...remote.Option) (tag, bundle bool, d name.Digest, err error) {
	if err := f.check(); err != nil {
		return false, false, d, err
	}
	d, err = sign.Resolve(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return false, false, d, err
	}
	switch f.v {
	case "tag":
		return true, false, d, nil
	case "bundle":
		return false, true, d, nil
	case "both":
		return true, true, d, nil
	}
	has, err := sign.HasBundles(ctx, d, opts...)
	return !has, has, d, err
}

func (f storeFlag) sign(ctx context.Context, ref name.Reference, s sign.Signer, a map[string]any, opts ...remote.Option) (name.Digest, error) {
	tag, bundle, d, err := f.resolve(ctx, ref, opts...)
	if err != nil {
		return d, err
	}
	// Sign the digest resolved above, remembering the tag signed through,
	// even if the tag moves in between.
	if t, ok := ref.(name.Tag); ok {
		a = sign.WithTag(a, t)
	}
	if tag {
		if _, err := sign.Sign(ctx, d, s, a, opts...); err != nil {
			return d, err
		}
	}
	if bundle {
		if _, err := sign.SignBundle(ctx, d, s, a, opts...); err != nil {
			return d, err
		}
	}
	return d, nil
}

func (f storeFlag) attest(ctx context.Context, ref name.Reference, s sign.Signer, pt string, body []byte, opts ...remote.Option) (name.Digest, error) {
	tag, bundle, d, err := f.resolve(ctx, ref, opts...)
	if err != nil {
		return d, err
	}
	if tag {
		if _, err := sign.Attest(ctx, d, s, pt, body, opts...); err != nil {
			return d, err
		}
	}
	if bundle {
		if _, err := sign.AttestBundle(ctx, d, s, pt, body, opts...); err != nil {
			return d, err
		}
	}
	return d, nil
}

func loadSigner(e *env, keyFile string) (sign.Signer, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	pw, err := password(e, false)
	if err != nil {
		return nil, err
	}
	priv, err := sign.LoadPrivateKey(b, pw)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", keyFile, err)
	}
	return sign.NewKeySigner(priv)
}

func loadVerifiers(keyFiles []string) ([]signature.Verifier, error) {
	var keys []signature.Verifier
	for _, f := range keyFiles {
		v, err := sign.LoadPublicKeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		keys = append(keys, v)
	}
	return keys, nil
}

func newAttestCommand(e *env) *cobra.Command {
	var (
		keyFile, predicate, typ string
		reg                     registryFlags
		store                   storeFlag
	)
	cmd := &cobra.Command{
		Use:   "attest REF --predicate FILE --type TYPE --key KEY",
		Short: "Attach a signed in-toto attestation (DSSE) to an image, as cosign does",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pt, err := sign.PredicateType(typ)
			if err != nil {
				return err
			}
			ref, err := reg.ref(args[0])
			if err != nil {
				return err
			}
			body, err := readFileLimited(predicate, 64<<20)
			if err != nil {
				return fmt.Errorf("--predicate: %w", err)
			}
			s, err := loadSigner(e, keyFile)
			if err != nil {
				return err
			}
			d, err := store.attest(cmd.Context(), ref, s, pt, body, reg.remote(cmd.Context())...)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "Attested %s (%s)\n", d, pt)
			return nil
		},
	}
	store.register(cmd)
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file")
	cmd.Flags().StringVar(&predicate, "predicate", "", "predicate JSON file (an SBOM, a scan result, provenance...)")
	cmd.Flags().StringVar(&typ, "type", "custom", "cyclonedx, spdx, openvex, vuln, slsaprovenance, custom or a predicate type URI")
	reg.register(cmd)
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("predicate")
	return cmd
}

func newVerifyAttestationCommand(e *env) *cobra.Command {
	var (
		keyFiles   []string
		policyFile string
		typ        string
		maxAge     time.Duration
		reg        registryFlags
	)
	cmd := &cobra.Command{
		Use:   "verify-attestation REF --type TYPE (--key PUB... | --policy FILE)",
		Short: "Verify that a trusted key attested TYPE about exactly this digest",
		Long: `Exit 0 and print the in-toto statement only when an attestation of TYPE,
signed by a trusted key, names exactly the digest REF names now; otherwise
exit 1 with the reason. With --policy the trusted keys and the maximum age
come from the rule covering the repository (--max-age overrides the age);
a repository no rule covers is refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pt, err := sign.PredicateType(typ)
			if err != nil {
				return err
			}
			ref, err := reg.ref(args[0])
			if err != nil {
				return err
			}
			var keys []signature.Verifier
			signer := func(i int) string { return keyFiles[i] }
			if policyFile != "" {
				doc, ev, err := loadPolicyDocument(policyFile)
				if err != nil {
					return err
				}
				rule, ok := doc.For(ref.Context().Name())
				if !ok || len(rule.Keys) == 0 {
					return verdictExit(e, fmt.Errorf("no policy rule covers %s with keys (in %s; fail closed): add a rule whose pattern matches it", ref.Context().Name(), policyFile))
				}
				if keys, err = ev.Keys(rule); err != nil {
					return err
				}
				if !cmd.Flags().Changed("max-age") {
					maxAge = rule.MaxAge()
				}
				signer = func(i int) string { return fmt.Sprintf("key %d of the policy rule", i+1) }
			} else if keys, err = loadVerifiers(keyFiles); err != nil {
				return err
			}
			a, err := sign.VerifyAttestation(cmd.Context(), ref, keys, pt, maxAge, time.Now(), reg.remote(cmd.Context())...)
			if err := verdict(e, err); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "Verified %s attestation signed by %s\n", a.Statement.PredicateType, signer(a.Key))
			return writeJSONTo(e.stdout, a.Statement)
		},
	}
	cmd.Flags().StringArrayVar(&keyFiles, "key", nil, "trusted public key (repeatable)")
	cmd.Flags().StringVar(&policyFile, "policy", "", "verification policy file (keys and maximum age per repository)")
	cmd.Flags().StringVar(&typ, "type", "custom", "predicate type (as for attest)")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "refuse attestations whose predicate timestamp is older than this")
	reg.register(cmd)
	cmd.MarkFlagsOneRequired("key", "policy")
	cmd.MarkFlagsMutuallyExclusive("key", "policy")
	return cmd
}
