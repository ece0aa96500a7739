// Package e2e holds end-to-end tests that build the punch binary and run
// it the way a user does: `punch lab` to build NAT labs, `punch server` on
// the lab's server host, `punch nat` behind every NAT type, and
// third-party tools (coturn's turnutils_natdiscovery and turnserver) as
// independent cross-checks. It has no non-test code.
package e2e
