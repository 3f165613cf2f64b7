package dkim

import "time"

// Rotation is the schedule's parameters.
type Rotation struct {
	// Period is how long one key signs (--dkim-rotation, 30 days).
	Period time.Duration
	// PrePublish is how long before the switch the next key is published.
	PrePublish time.Duration
}

// DefaultRotation is the schedule of docs/CONCEPTS.md#key-rotation.
var DefaultRotation = Rotation{Period: 30 * 24 * time.Hour, PrePublish: 72 * time.Hour}

// KeyState is where one algorithm's key pair of a domain stands.
type KeyState struct {
	// Signing is the slot (0 or 1) whose key signs now.
	Signing int
	// NextPublished reports that the idle slot holds the next key.
	NextPublished bool
	// PublishedAt is when the idle slot's key was published.
	PublishedAt time.Time
	// SwitchAt is when signing moves to the idle slot.
	SwitchAt time.Time
	// LastSwitch is when the idle slot's key last signed (zero: never). It
	// is not replaced until PrePublish after that, for mail in flight.
	LastSwitch time.Time
}

// Action is what the schedule asks for.
type Action int

const (
	// NoAction: nothing to do now.
	NoAction Action = iota
	// PublishNext: make a new key and publish it in the idle slot
	// (replacing the previous key there).
	PublishNext
	// Switch: sign with the idle slot's key from now on.
	Switch
)

// NewKeyState is the state of a domain added at created: both slots get a
// key, slot 0 signs, and slot 1 is already the published next key.
func (r Rotation) NewKeyState(created time.Time) KeyState {
	return KeyState{Signing: 0, NextPublished: true, PublishedAt: created, SwitchAt: created.Add(r.Period)}
}

// Step returns the action due at now and the state after it. Call it until
// it returns NoAction: a domain whose check was late catches up step by step.
func (r Rotation) Step(s KeyState, now time.Time) (Action, KeyState) {
	switch {
	case !s.NextPublished && !now.Before(s.SwitchAt.Add(-r.PrePublish)):
		s.NextPublished, s.PublishedAt = true, now
		s.LastSwitch = time.Time{} // the idle slot now holds a key that never signed
		// A late pre-publication pushes the switch back: the key must be
		// out there for PrePublish before it signs.
		if earliest := now.Add(r.PrePublish); s.SwitchAt.Before(earliest) {
			s.SwitchAt = earliest
		}
		return PublishNext, s
	case s.NextPublished && !now.Before(s.SwitchAt) && !now.Before(s.PublishedAt.Add(r.PrePublish)):
		s.Signing = 1 - s.Signing
		s.NextPublished = false
		s.LastSwitch = now
		s.SwitchAt = s.SwitchAt.Add(r.Period)
		if s.SwitchAt.Before(now) { // long outage: count the period from now
			s.SwitchAt = now.Add(r.Period)
		}
		return Switch, s
	}
	return NoAction, s
}

// Force asks for a rotation as soon as it is safe: a fresh key goes into
// the idle slot now (or, if that slot's key signed until less than
// PrePublish ago, once it has been retired that long, so mail in flight
// still verifies), and signing moves to it PrePublish after publication.
// It returns the state to Step from.
func (r Rotation) Force(s KeyState, now time.Time) KeyState {
	publish := now
	if !s.LastSwitch.IsZero() && s.LastSwitch.Add(r.PrePublish).After(now) {
		publish = s.LastSwitch.Add(r.PrePublish)
	}
	s.NextPublished = false
	s.SwitchAt = publish.Add(r.PrePublish)
	return s
}

// Next is the time of the next scheduled action.
func (r Rotation) Next(s KeyState) time.Time {
	if !s.NextPublished {
		return s.SwitchAt.Add(-r.PrePublish)
	}
	if t := s.PublishedAt.Add(r.PrePublish); t.After(s.SwitchAt) {
		return t
	}
	return s.SwitchAt
}
