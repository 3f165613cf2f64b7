package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"

	"github.com/emersion/go-message/textproto"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
)

// MaxForwards bounds how many times one recipient may forward a message,
// so that a link in a message cannot become a way to mail anyone.
const MaxForwards = 5

// Forward sends the message one recipient got on to a friend: a new
// message, addressed To the friend, with the friend's own links and no
// forward link of its own (a forward does not multiply into more).
func (r *Relay) Forward(ctx context.Context, clusterID, messageID, recipient, friend string) (Result, error) {
	sent, err := r.Store.MailFor(ctx, clusterID, messageID, recipient)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sent.SavedMessage == "") {
		return Result{}, ErrForwardUnavailable
	}
	if err != nil {
		return Result{}, err
	}
	raw, err := r.Store.Message(ctx, clusterID, sent.SavedMessage)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, ErrForwardUnavailable
	}
	if err != nil {
		return Result{}, err
	}
	if ok, err := r.Store.TakeForward(ctx, clusterID, messageID, recipient, MaxForwards); err != nil {
		return Result{}, err
	} else if !ok {
		return Result{}, ErrForwardLimit
	}
	raw = bytes.ReplaceAll(raw, []byte(track.ForwardPlaceholder), nil)
	raw, err = readdress(raw, friend)
	if err != nil {
		return Result{}, ErrInvalidMessage.With("the message could not be forwarded: %v", err)
	}
	return r.Submit(ctx, clusterID, "", raw, []string{friend}, "")
}

// readdress makes To the friend and drops Cc and Bcc.
func readdress(raw []byte, to string) ([]byte, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, err
	}
	h.Del("Cc")
	h.Del("Bcc")
	h.Set("To", to)
	var out bytes.Buffer
	if err := textproto.WriteHeader(&out, h); err != nil {
		return nil, err
	}
	_, err = out.ReadFrom(br)
	return out.Bytes(), err
}
