package testenv

import (
	"testing"

	"bulwark.dev/bulwark/internal/sign"
)

// SigningKey is a fresh cosign-format key pair: the public key (PEM)
// and a signer for its private key.
func SigningKey(t testing.TB) ([]byte, sign.Signer) {
	t.Helper()
	kp, err := sign.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := sign.LoadPrivateKey(kp.PrivatePEM, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewKeySigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return kp.PublicPEM, s
}
