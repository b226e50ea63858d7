// swift-tools-version:6.0
// The CQF trainer: a library (CQF) that knows nothing of MPI, and the executable
// `Distributed` that adds the command line and the MPI communicator.
import PackageDescription

// The card's command, `mpirun -n 16 swift run Distributed`, builds in debug mode, where numeric
// Swift runs 5-100x slower: the code that computes is optimized in debug builds too (they keep
// -enable-testing and debug information), so that it trains at release speed. Whole-module, as
// release builds are (with -O alone, per file, a step was 0.67x release's speed); on 2 threads,
// because single-threaded -wmo emits one object where the debug build's index store wants one
// per source file.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O", "-wmo", "-num-threads", "2"], .when(configuration: .debug))]

// The engine's own loops (elementwise functions, batch norm, layouts, sums) are vectorised by the
// compiler, which targets the ISA of 2003 (SSE2, 4 lanes) unless told otherwise. Haswell's (AVX2,
// FMA: every x86 server core since 2013, AMD's since Zen 1) doubles the lanes: on config b those
// loops took 328 -> 276 ms a step, the numbers bit for bit the same (docs/performance.md).
// `main.swift` checks the CPU first and says so if it lacks them.
#if arch(x86_64)
let vectorISA: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let vectorISA: [SwiftSetting] = []
#endif

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
        .target(name: "CQF", dependencies: ["CBLAS", "CDNNL", "CImageCodecs", "CPUPeak"], path: "Sources/CQF",
                swiftSettings: optimizedInDebug + vectorISA),
        .executableTarget(name: "DistributedMain", dependencies: ["CQF", "MPIShim"], path: "Sources/Distributed",
                          swiftSettings: optimizedInDebug + vectorISA),
        .testTarget(name: "CQFTests", dependencies: ["CQF"], path: "Tests/CQFTests",
                    resources: [.copy("Fixtures")], swiftSettings: vectorISA),
        .testTarget(name: "DistributedTests", dependencies: ["CQF"], path: "Tests/DistributedTests",
                    swiftSettings: vectorISA),
    ],
    swiftLanguageModes: [.v5]
)
