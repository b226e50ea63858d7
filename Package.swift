// swift-tools-version:6.0
// The CQF trainer: a library (CQF) that knows nothing of MPI, and the executable
// `Distributed` that adds the command line and the MPI communicator.
import PackageDescription

let package = Package(
    name: "CQF",
    products: [
        // The product is `Distributed`; its module is `DistributedMain`, because a module
        // named `Distributed` would shadow the toolchain's distributed-actors module.
        .executable(name: "Distributed", targets: ["DistributedMain"]),
        .library(name: "CQF", targets: ["CQF"]),
    ],
    targets: [
        .systemLibrary(name: "MPIShim", path: "Sources/MPIShim", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs",
                       providers: [.apt(["libpng-dev", "libjpeg-dev", "libwebp-dev", "liblmdb-dev", "zlib1g-dev"])]),
        .systemLibrary(name: "CPUPeak", path: "Sources/CPUPeak"),
        .target(name: "CQF", dependencies: ["CBLAS", "CDNNL", "CImageCodecs", "CPUPeak"], path: "Sources/CQF"),
        .executableTarget(name: "DistributedMain", dependencies: ["CQF", "MPIShim"], path: "Sources/Distributed"),
        .testTarget(name: "CQFTests", dependencies: ["CQF"], path: "Tests/CQFTests",
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DistributedTests", dependencies: ["CQF"], path: "Tests/DistributedTests"),
    ],
    swiftLanguageModes: [.v5]
)
