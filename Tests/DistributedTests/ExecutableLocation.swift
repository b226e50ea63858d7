import Foundation

/// The built `Distributed` executable, beside the test bundle in the build folder.
func distributedExecutable() -> URL {
    var folder = Bundle.main.bundleURL
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        folder = bundle.bundleURL.deletingLastPathComponent()
    }
    return folder.appendingPathComponent("Distributed")
}
