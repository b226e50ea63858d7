// What a test does when this machine lacks something it needs. launch/setup.sh installs every
// package the tests use, so a missing package means a machine nobody prepared: a developer's run
// skips the test, saying what to install, and a CI run (CI=true, which .ci/run sets) fails it,
// because a skipped test did not run and XCTest would count it as passed. Only a capability that
// no package gives and the test cannot create itself is skipped under CI too; launch/test.sh
// prints how many tests were skipped.
import Foundation
import XCTest

/// The error to throw when `what`, from Debian's package `package`, is not installed.
func notInstalled(_ what: String, package: String) -> Error {
    let message = "\(what) is not installed: apt-get install \(package) (launch/setup.sh --slurm installs it)"
    guard ProcessInfo.processInfo.environment["CI"] == "true" else { return XCTSkip(message) }
    return MissingUnderCI(description: message + "; under CI=true a test that cannot run fails")
}

/// The skip for a capability of the machine that no package gives (allowed under CI).
func machineLacks(_ capability: String) -> XCTSkip {
    XCTSkip("this machine lacks \(capability)")
}

struct MissingUnderCI: Error, CustomStringConvertible {
    let description: String
}
