"""The test bed's tooling: the Debian chroot and its Asterisk instances, simulated customers, the
SIPp carrier and queue agents, probes and the demo. Only the CLI (dialer.cli.sandbox) and the tests
use it; the engine never imports it."""
