// libFuzzer targets for every parser of a file that users hand the trainer (issue 14). Each
// input is one file's bytes; the parser may refuse it (a thrown error is the right answer to bad
// input) but must never trap, crash, allocate without bound or read out of bounds (checked by
// AddressSanitizer). launch/ci/fuzz.sh compiles this file with CQF's sources:
//
//   CQF_FUZZ_TARGET=idx .build/fuzz/fuzz-cqf [libFuzzer flags] CORPUS_DIR SEED_DIR
//
// The target is named by the environment, as libFuzzer keeps the command line for itself.
// `CQF_FUZZ_SEEDS=DIR` instead writes each target's seeds, well-formed files made by the
// project's own writers, into DIR/TARGET (Tests/Fuzz/seeds holds them).
import CImageCodecs
import Foundation

/// The parser under test.
private var target = ""
/// Where inputs that parsers read by path are written, one file per target.
private let folder = NSTemporaryDirectory() + "cqf-fuzz-\(getpid())"

/// Each target: what it feeds the bytes to.
private let targets: [String: (UnsafeRawBufferPointer) throws -> Void] = [
    // idx images as Fashion-MNIST ships them, plain and gzipped, beside a well-formed label file.
    "idx": { try readIdx($0, gzip: false) },
    "idx-gzip": { try readIdx($0, gzip: true) },
    // A .npy header read from a stream, as the npz readers do.
    "npy": { bytes in
        var offset = 0
        _ = try NPYHeader(name: "fuzz.npy") { destination, count in
            guard offset + count <= bytes.count else { throw DataError("ends early") }
            destination.update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, count: count)
            offset += count
        }
    },
    // A zip archive as `sample` writes and `score` reads it (arr_0.npy), read to its end.
    "npz": { bytes in
        let images = try NPZImages(path: try write(bytes, as: "samples.npz"))
        try images.forEachImage(warn: { _ in }) { _ in }
    },
    // ImageNet 64x64's npz batches.
    "imagenet-npz": { bytes in
        let path = try write(bytes, as: "imagenet/val_data.npz")
        try ImageNet64Source(directory: (path as NSString).deletingLastPathComponent, split: .test).forEachImage(warn: { _ in }) { _ in }
    },
    "packed": { bytes in
        let dataset = try PackedDataset(path: try write(bytes, as: "fuzz.packed"))
        try dataset.forEachImage(warn: { _ in }) { _ in }
    },
    "safetensors": { bytes in
        let file = try SafeTensors.read(path: try write(bytes, as: "fuzz.safetensors"))
        for name in file.names where (try? file.info(name))?.dtype == .f32 { _ = try file.floats(name) }
    },
    "checkpoint": { bytes in _ = try Checkpoint.load(path: try write(bytes, as: "checkpoint.safetensors")) },
    // PNG, JPEG or WebP, as a folder or an LSUN record holds them, to 32x32.
    "image": { bytes in
        let output = UnsafeMutablePointer<UInt8>.allocate(capacity: 3 * 32 * 32)
        defer { output.deallocate() }
        try ImageDecoder(size: 32, crop: nil).decode(bytes, into: output)
    },
    "config": { bytes in _ = try Config.load(path: try write(bytes, as: "config.json"), overrides: []) },
]

private func write(_ bytes: UnsafeRawBufferPointer, as name: String) throws -> String {
    let path = "\(folder)/\(name)"
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

private func readIdx(_ bytes: UnsafeRawBufferPointer, gzip: Bool) throws {
    let directory = "\(folder)/idx"
    try? FileManager.default.removeItem(atPath: directory)
    _ = try write(bytes, as: "idx/train-images-idx3-ubyte" + (gzip ? ".gz" : ""))
    // Labels for as many images as a plain header claims (up to a bound), so that a well-formed
    // image file is read to its end.
    let claimed = bytes.count >= 8 ? min(Int(UInt32(bytes[4]) << 24 | UInt32(bytes[5]) << 16 | UInt32(bytes[6]) << 8 | UInt32(bytes[7])), 4096) : 0
    let labels = [0, 0, 8, 1] + withUnsafeBytes(of: UInt32(claimed).bigEndian, Array.init) + [UInt8](repeating: 1, count: claimed)
    _ = try labels.withUnsafeBytes { try write($0, as: "idx/train-labels-idx1-ubyte") }
    let dataset = try IdxDataset(directory: directory, split: .train)
    try dataset.forEachImage(warn: { _ in }) { _ in }
}

/// Well-formed inputs of every target, for libFuzzer to start from.
private func writeSeeds(into seeds: String) throws {
    func seed(_ target: String, _ name: String, _ write: (String) throws -> Void) throws {
        try FileManager.default.createDirectory(atPath: "\(seeds)/\(target)", withIntermediateDirectories: true)
        try write("\(seeds)/\(target)/\(name)")
    }
    let (width, height) = (12, 10)
    let rgb = (0..<width * height * 3).map { UInt8(truncatingIfNeeded: $0 * 7) }
    let idx = [0, 0, 8, 3] + [0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28] + (0..<2 * 28 * 28).map { UInt8(truncatingIfNeeded: $0) }
    try seed("idx", "two-images") { try Data(idx).write(to: URL(fileURLWithPath: $0)) }
    try seed("idx-gzip", "two-images.gz") { path in
        let file = gzopen(path, "wb")
        defer { gzclose(file) }
        _ = idx.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    }
    let npz: (String) throws -> Void = { try writeNPZ(path: $0, arrays: [NPZArray(name: "arr_0", shape: [2, 4, 4, 1], bytes: Array(0..<32))]) }
    try seed("npz", "samples.npz", npz)
    try seed("imagenet-npz", "val_data.npz") { try writeNPZ(path: $0, arrays: [NPZArray(name: "data", shape: [2, 3 * 8 * 8], bytes: (0..<384).map { UInt8($0 % 256) })]) }
    try seed("npy", "header") { path in
        let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }"
        let padded = header + String(repeating: " ", count: 63 - (10 + header.count) % 64) + "\n"
        try Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.count), 0] + Array(padded.utf8) + [1, 2, 3, 4, 5, 6]).write(to: URL(fileURLWithPath: path))
    }
    try seed("packed", "two.packed") { path in
        let writer = try PackedWriter(path: path, shape: ImageShape(channels: 1, height: 4, width: 4))
        for image in [[UInt8](repeating: 3, count: 16), (0..<16).map(UInt8.init)] { try writer.append(image) }
        try writer.finish()
    }
    let values: [Float] = [1, -2, 3.5, 0]
    try values.withUnsafeBufferPointer { buffer in
        let tensor = [(name: "x", shape: [2, 2], data: buffer.baseAddress!)]
        try seed("safetensors", "x.safetensors") { try SafeTensors.write(path: $0, tensors: tensor, metadata: ["note": "seed"]) }
        try seed("checkpoint", "step-3.safetensors") {
            try SafeTensors.write(path: $0, tensors: tensor, metadata: ["format_version": "1", "step": "3", "data_position": #"{"epoch": 0, "batch": 3}"#])
        }
    }
    try seed("image", "gradient.png") { try writePNG(path: $0, pixels: rgb, width: width, height: height, channels: 3) }
    try seed("image", "gradient.jpg") { try writeJPEG(path: $0, pixels: rgb, width: width, height: height, channels: 3, quality: 80) }
    try seed("image", "gradient.webp") { try Data(encodeWebP(rgb, width: width, height: height, quality: 80)).write(to: URL(fileURLWithPath: $0)) }
    try seed("config", "small.json") { try Data(#"{"objective": "cqf", "batch": 8, "widths": [8, 8, 16, 16], "nvp": {"blocks": 1}}"#.utf8).write(to: URL(fileURLWithPath: $0)) }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    if let seeds = ProcessInfo.processInfo.environment["CQF_FUZZ_SEEDS"] {
        do { try writeSeeds(into: seeds) } catch { FileHandle.standardError.write("fuzz-cqf: \(error)\n".data(using: .utf8)!); exit(1) }
        exit(0)
    }
    target = ProcessInfo.processInfo.environment["CQF_FUZZ_TARGET"] ?? ""
    guard targets[target] != nil else {
        FileHandle.standardError.write("fuzz-cqf: set CQF_FUZZ_TARGET to one of \(targets.keys.sorted().joined(separator: ", "))\n".data(using: .utf8)!)
        exit(2)
    }
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    do {
        try targets[target]!(UnsafeRawBufferPointer(start: data, count: size))
    } catch {
        // Refused, as bad input should be.
    }
    return 0
}
