package sending

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
)

// KeyContext binds a sealed DKIM key to its place, so a sealed key copied
// to another domain or slot does not open.
func KeyContext(domainID, alg string, slot int) string {
	return fmt.Sprintf("dkim/%s/%s/%d", domainID, alg, slot)
}

// keygen bounds the RSA key generations at once to half the cores, so
// that one tenant adding sending domains in parallel (each RSA-2048 key is
// a long burst of CPU) cannot starve the edge's clicks and other tenants'
// requests on the rest.
var keygen = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// generate makes a private key; tests replace it.
var generate = dkim.GenerateKey

// NewKey makes a key of an algorithm for a domain's slot, sealed.
func NewKey(box *secret.Box, domainID, alg string, slot int, now time.Time) (store.DKIMKey, error) {
	keygen <- struct{}{}
	priv, err := generate(dkim.Algorithm(alg))
	<-keygen
	if err != nil {
		return store.DKIMKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.DKIMKey{}, err
	}
	txt, err := dkim.TXT(priv.Public())
	if err != nil {
		return store.DKIMKey{}, err
	}
	return store.DKIMKey{DomainID: domainID, Algorithm: alg, Slot: slot, TXT: txt, PublishedAt: now,
		PrivateKey: box.Seal(der, KeyContext(domainID, alg, slot))}, nil
}

// Rotations decodes a domain's key schedule state, by algorithm.
func Rotations(d store.SendingDomain) (map[string]dkim.KeyState, error) {
	out := map[string]dkim.KeyState{}
	if len(d.Rotation) == 0 {
		return out, nil
	}
	return out, json.Unmarshal(d.Rotation, &out)
}

// SetRotations stores the schedule state in d, with the time of its next
// action.
func SetRotations(d *store.SendingDomain, rot map[string]dkim.KeyState, r dkim.Rotation) error {
	b, err := json.Marshal(rot)
	if err != nil {
		return err
	}
	d.Rotation = b
	d.RotationAt = time.Time{}
	for _, ks := range rot {
		if t := r.Next(ks); d.RotationAt.IsZero() || t.Before(d.RotationAt) {
			d.RotationAt = t
		}
	}
	return nil
}

// Rotate runs the schedule of every algorithm of d at now (force asks for
// a rotation first) and returns d and the keys to publish.
func Rotate(box *secret.Box, r dkim.Rotation, d store.SendingDomain, now time.Time, force bool) (store.SendingDomain, []store.DKIMKey, error) {
	rot, err := Rotations(d)
	if err != nil {
		return d, nil, err
	}
	var keys []store.DKIMKey
	for _, alg := range d.Algorithms {
		ks := rot[alg]
		if force {
			ks = r.Force(ks, now)
		}
		for {
			a, next := r.Step(ks, now)
			if a == dkim.NoAction {
				break
			}
			if a == dkim.PublishNext {
				k, err := NewKey(box, d.ID, alg, 1-ks.Signing, now)
				if err != nil {
					return d, nil, err
				}
				keys = append(keys, k)
			}
			ks = next
		}
		rot[alg] = ks
	}
	return d, keys, SetRotations(&d, rot, r)
}

// SigningKeys opens the keys that sign for d now, one per algorithm.
func SigningKeys(box *secret.Box, d store.SendingDomain, stored []store.DKIMKey) ([]dkim.Key, error) {
	rot, err := Rotations(d)
	if err != nil {
		return nil, err
	}
	var out []dkim.Key
	for _, alg := range d.Algorithms {
		slot := rot[alg].Signing
		for _, k := range stored {
			if k.Algorithm != alg || k.Slot != slot {
				continue
			}
			der, err := box.Open(k.PrivateKey, KeyContext(d.ID, alg, slot))
			if err != nil {
				return nil, err
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return nil, err
			}
			signer, ok := priv.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("key of %s is not a signer", d.Name)
			}
			out = append(out, dkim.Key{Selector: dkim.Algorithm(alg).Selectors()[slot], Signer: signer})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no signing key for %s", d.Name)
	}
	return out, nil
}
