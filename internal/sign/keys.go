// Package sign creates and verifies cosign-compatible image signatures:
// ECDSA P-256 keys in cosign's encrypted PEM format, simple-signing
// payloads stored under sha256-<hex>.sig tags. Verification needs
// explicit trusted keys and fails closed with a typed reason.
package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// PEM block types cosign writes (v2 and later) and reads (both).
const (
	SigstorePrivateKeyPEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
	CosignPrivateKeyPEM   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// KeyPair is a generated key pair, PEM encoded.
type KeyPair struct {
	PrivatePEM []byte
	PublicPEM  []byte
}

// GenerateKeyPair creates an ECDSA P-256 key pair; the private key is
// encrypted with password (scrypt and secretbox, as cosign does).
func GenerateKeyPair(password []byte) (*KeyPair, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return MarshalKeyPair(priv, password)
}

// MarshalKeyPair encodes an existing ECDSA key the way cosign stores it.
func MarshalKeyPair(priv *ecdsa.PrivateKey, password []byte) (*KeyPair, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, err
	}
	return &KeyPair{PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPEM, Bytes: enc}), PublicPEM: pub}, nil
}

// ErrBadPassword is returned when a private key does not decrypt.
var ErrBadPassword = errors.New("wrong password for the private key")

// LoadPrivateKey decrypts a cosign or bulwark private key.
func LoadPrivateKey(pemBytes, password []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("private key: not PEM")
	}
	if block.Type != SigstorePrivateKeyPEM && block.Type != CosignPrivateKeyPEM {
		return nil, fmt.Errorf("private key: PEM type %q is not an encrypted cosign/sigstore key", block.Type)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, ErrBadPassword
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: %T is not an ECDSA key", k)
	}
	return ek, nil
}

// LoadPublicKey reads a PEM public key and returns a verifier for it.
func LoadPublicKey(pemBytes []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return signature.LoadVerifier(pub, crypto.SHA256)
}

// LoadPublicKeyFile reads a PEM public key file; errors name the file.
func LoadPublicKeyFile(file string) (signature.Verifier, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v, err := LoadPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return v, nil
}
