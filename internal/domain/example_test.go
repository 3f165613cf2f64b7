package domain_test

import (
	"errors"
	"fmt"

	"github.com/waymark-mail/waymark/internal/domain"
)

// A customer's tracking domain as typed into the dashboard comes back in
// the form waymark stores: lower case, without the final dot, with
// internationalised labels as punycode. A name that cannot be one (here an
// apex, a reserved TLD, a name under the platform's own domain, the second
// argument) is a *NameError whose Code the API answers.
func ExampleTrackingName() {
	for _, raw := range []string{"Track.Acme-Mail.COM.", "links.bücher.de", "acme-mail.com", "track.example.test", "t.mail-platform.net"} {
		name, err := domain.TrackingName(raw, "mail-platform.net")
		var refusal *domain.NameError
		if errors.As(err, &refusal) {
			fmt.Printf("%s: refused, %s\n", raw, refusal.Code)
			continue
		}
		fmt.Printf("%s: %s\n", raw, name)
	}
	// Output:
	// Track.Acme-Mail.COM.: track.acme-mail.com
	// links.bücher.de: links.xn--bcher-kva.de
	// acme-mail.com: refused, name_not_subdomain
	// track.example.test: refused, name_reserved_tld
	// t.mail-platform.net: refused, name_platform_domain
}

// A refusal's message names the input and what to do about it.
func ExampleNameError() {
	_, err := domain.TrackingName("acme-mail.com", "mail-platform.net")
	fmt.Println(err)
	// Output:
	// "acme-mail.com" is a registrable domain; tracking domains must be a subdomain such as track.acme-mail.com
}
