"""A loopback stand-in for the part of GitHub's REST API that jitops uses."""
