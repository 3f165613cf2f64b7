package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

const (
	// AdminPrefix starts the operator's admin key.
	AdminPrefix = "wma_"
	// ClusterPrefix starts a cluster's key.
	ClusterPrefix = "wmk_"
)

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns a fresh key with the given prefix.
func New(prefix string) string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // never fails on Linux (Go 1.24+ crashes rather than return an error)
	return prefix + strings.ToLower(encoding.EncodeToString(b))
}

// Hash returns the stored form of a key: lower-case hex SHA-256.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Equal compares two hashes in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// NewID returns an object id: prefix, underscore, 16 lower-case hex digits.
func NewID(prefix string) string {
	return prefix + "_" + RandomHex(8)
}

// RandomHex returns n random bytes as 2n lower-case hex digits.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
