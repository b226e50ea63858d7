# Sourced by the CI test scripts: how a test that cannot run here ends. Exit status 77 means
# "skipped" (the Automake convention), which launch/test.sh counts and reports. A machine that
# merely lacks a package is no reason under CI: launch/setup.sh --slurm installs everything the
# tests use, so with CI=true (.ci/run sets it) such a test fails the run. Only a capability of
# the machine that no package gives and the test cannot create (root, network namespaces, a
# kernel module) skips under CI too. Set skip_name to the test's name before calling either.

# Skips: this machine lacks capability "$*".
skip_lacking() {
    echo "$skip_name: SKIPPED: this machine lacks $*" >&2
    exit 77
}

# Skips outside CI, fails under CI=true: "$*" is something setup installs or a daemon it starts.
skip_unless_ci() {
    if [[ ${CI:-} == true ]]; then
        echo "$skip_name: FAILED: $* (under CI=true a test that cannot run fails)" >&2
        exit 1
    fi
    echo "$skip_name: SKIPPED: $*" >&2
    exit 77
}
