package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls the waymark API.
type Client struct {
	// BaseURL is the API's root, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Key is the bearer key, admin or cluster.
	Key string
	// Cluster, with the admin key, names the cluster to act in.
	Cluster string
	HTTP    *http.Client
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("API answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s [%s]", e.Message, e.Code)
}

// Do sends a request with a JSON body (nil for none) and returns the
// response body of a 2xx answer, or an *APIError.
func (c *Client) Do(method, path string, body any) ([]byte, error) {
	if body == nil {
		return c.Send(method, path, "", nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.Send(method, path, "application/json", bytes.NewReader(b))
}

// checkBase checks BaseURL is an http(s) URL.
func (c *Client) checkBase() error {
	base := strings.TrimSuffix(c.BaseURL, "/")
	if u, err := url.ParseRequestURI(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("API address %q is not an http(s) URL; set --api or WAYMARK_API, e.g. http://127.0.0.1:8080", c.BaseURL)
	}
	return nil
}

// Send is Do with a body of the given Content-Type (none if body is nil).
func (c *Client) Send(method, path, contentType string, body io.Reader) ([]byte, error) {
	if err := c.checkBase(); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(c.BaseURL, "/")
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if c.Cluster != "" {
		req.Header.Set("X-Waymark-Cluster", c.Cluster)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the waymark API at %s (is `waymark serve` running? set --api or WAYMARK_API): %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return raw, nil
	}
	apiErr := &APIError{Status: resp.StatusCode}
	var shape struct {
		Error *APIError `json:"error"`
	}
	if json.Unmarshal(raw, &shape) == nil && shape.Error != nil {
		apiErr.Code, apiErr.Message, apiErr.Field = shape.Error.Code, shape.Error.Message, shape.Error.Field
	}
	return nil, apiErr
}
