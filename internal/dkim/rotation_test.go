package dkim

import (
	"math/rand/v2"
	"testing"
	"time"
)

var day = 24 * time.Hour

func TestStep(t *testing.T) {
	r := DefaultRotation
	c := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s0 := r.NewKeyState(c)
	for _, tc := range []struct {
		name   string
		in     KeyState
		now    time.Time
		action Action
		check  func(KeyState) bool
	}{
		{"fresh domain: nothing", s0, c.Add(day), NoAction, nil},
		{"switch after a period", s0, c.Add(30 * day), Switch,
			func(s KeyState) bool {
				return s.Signing == 1 && !s.NextPublished && s.SwitchAt.Equal(c.Add(60*day)) && s.LastSwitch.Equal(c.Add(30*day))
			}},
		{"not before the period", s0, c.Add(30*day - time.Second), NoAction, nil},
		{"pre-publish 72h before the switch", KeyState{Signing: 1, SwitchAt: c.Add(60 * day)}, c.Add(57 * day), PublishNext,
			func(s KeyState) bool {
				return s.NextPublished && s.PublishedAt.Equal(c.Add(57*day)) && s.SwitchAt.Equal(c.Add(60*day))
			}},
		{"not earlier than 72h before", KeyState{Signing: 1, SwitchAt: c.Add(60 * day)}, c.Add(57*day - time.Second), NoAction, nil},
		{"late pre-publication pushes the switch", KeyState{Signing: 1, SwitchAt: c.Add(60 * day)}, c.Add(59 * day), PublishNext,
			func(s KeyState) bool { return s.SwitchAt.Equal(c.Add(62 * day)) }},
		{"no switch before the key is 72h old", KeyState{Signing: 1, NextPublished: true, PublishedAt: c.Add(59 * day), SwitchAt: c.Add(60 * day)},
			c.Add(61 * day), NoAction, nil},
		{"after a long outage the period restarts", KeyState{Signing: 0, NextPublished: true, PublishedAt: c, SwitchAt: c.Add(30 * day)},
			c.Add(100 * day), Switch, func(s KeyState) bool { return s.SwitchAt.Equal(c.Add(130 * day)) }},
	} {
		a, got := r.Step(tc.in, tc.now)
		if a != tc.action || (tc.check != nil && !tc.check(got)) {
			t.Errorf("%s: %v %+v", tc.name, a, got)
		}
	}
	// Forcing right after a switch waits until the retired key is 72h retired.
	_, s := r.Step(s0, c.Add(30*day))
	f := r.Force(s, c.Add(30*day+time.Hour))
	if a, _ := r.Step(f, c.Add(30*day+2*time.Hour)); a != NoAction {
		t.Fatalf("forced rotation replaced a key that signed an hour ago: %v", a)
	}
	if a, _ := r.Step(f, c.Add(33*day)); a != PublishNext {
		t.Fatalf("forced rotation not published 72h after the switch: %v", a)
	}
	// Forcing on a fresh domain publishes at once and switches 72h later.
	f = r.Force(s0, c.Add(day))
	if a, f2 := r.Step(f, c.Add(day)); a != PublishNext || !f2.SwitchAt.Equal(c.Add(4*day)) {
		t.Fatalf("force on a fresh domain: %v %+v", a, f2)
	}
}

// TestYearOfRotation travels a year hour by hour, with forced rotations at
// random moments, and checks what verifiers see: the selector that signs
// always resolves to the key that signs, that key was published at least
// 72 hours before it signed, and a key stays published for 72 hours after
// it last signed.
func TestYearOfRotation(t *testing.T) {
	r := DefaultRotation
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	st := r.NewKeyState(start)
	nextKey := 3
	slots := [2]int{1, 2}                              // the DNS: key id published in each selector
	published := map[int]time.Time{1: start, 2: start} // when each key went into DNS
	removed := map[int]time.Time{}                     // when each key left DNS
	lastSigned := map[int]time.Time{}                  // when each key last signed
	switches := 0
	for now := start; now.Before(start.Add(365 * day)); now = now.Add(time.Hour) {
		if rng.IntN(24*40) == 0 {
			st = r.Force(st, now)
		}
		for {
			a, next := r.Step(st, now)
			if a == NoAction {
				break
			}
			switch a {
			case PublishNext:
				idle := 1 - st.Signing
				old := slots[idle]
				removed[old] = now
				if ls, ok := lastSigned[old]; ok && now.Sub(ls) < r.PrePublish {
					t.Fatalf("%v: key %d replaced %v after it last signed", now, old, now.Sub(ls))
				}
				slots[idle] = nextKey
				published[nextKey] = now
				nextKey++
			case Switch:
				switches++
			}
			st = next
		}
		signer := slots[st.Signing] // what the signer uses ...
		if _, gone := removed[signer]; gone {
			t.Fatalf("%v: signing with key %d, no longer published", now, signer)
		}
		if p := published[signer]; now.Sub(p) < r.PrePublish && p != start {
			t.Fatalf("%v: key %d signs %v after publication", now, signer, now.Sub(p))
		}
		lastSigned[signer] = now
	}
	if switches < 12 || switches > 30 {
		t.Fatalf("%d switches in a year", switches)
	}
}
