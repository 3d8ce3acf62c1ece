// Package packaging holds the Debian package (nfpm.yaml, build-deb.sh,
// the maintainer scripts) and the systemd unit of minimix, and the test
// that builds the package, installs it and runs the installed server.
package packaging
