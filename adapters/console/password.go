package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum for argon2id (19 MiB, 2 passes, one
// lane). A hash keeps its parameters, so raising them later leaves old
// hashes verifiable.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyBytes  = 32
	saltBytes      = 16
	// passwordBytesMin and passwordBytesMax bound a password: long enough
	// to resist guessing, short enough that hashing it is no attack.
	passwordBytesMin = 12
	passwordBytesMax = 256
)

// ErrPasswordPolicy: a password too short or too long.
var ErrPasswordPolicy = fmt.Errorf("a password has %d to %d bytes", passwordBytesMin, passwordBytesMax)

// ErrHashFormat: a stored hash the console cannot read.
var ErrHashFormat = errors.New("not an argon2id hash in PHC format")

// HashPassword hashes a new password with argon2id and a random salt, in
// the PHC string format.
func HashPassword(pw string) (string, error) {
	if len(pw) < passwordBytesMin || len(pw) > passwordBytesMax {
		return "", ErrPasswordPolicy
	}
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyBytes)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword tells whether pw matches hash, in constant time.
func CheckPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrHashFormat
	}
	var v int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, ErrHashFormat
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, ErrHashFormat
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || len(key) > 128 {
		return false, ErrHashFormat
	}
	if len(pw) > passwordBytesMax {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummyHash is checked when a login names no account, so that an unknown
// name takes as long as a wrong password.
var dummyHash, _ = HashPassword("no-such-account-password")
