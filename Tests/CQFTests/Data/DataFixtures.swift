// Writers of small dataset files in every published format, made with the real libraries
// (zlib, libpng, libjpeg, libwebp, liblmdb; numpy for npz), for the data tests to read back.
// Image i's pixel (c, y, x) is `pattern(i, c, y, x)`, so order and layout errors show.
import CImageCodecs
import Foundation
import XCTest
@testable import CQF

enum DataFixtures {
    static func pattern(_ i: Int, _ c: Int, _ y: Int, _ x: Int) -> UInt8 {
        UInt8((i * 7 + c * 50 + y * 3 + x * 5) % 256)
    }

    /// A fresh empty folder, removed by the test case's teardown.
    static func temporaryFolder(_ test: XCTestCase) throws -> String {
        let path = NSTemporaryDirectory() + "cqf-data-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func read(_ path: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func bigEndian(_ value: Int) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * (3 - $0))) }
    }

    /// Writes bytes through zlib's gzip writer.
    static func writeGzip(_ bytes: [UInt8], to path: String) throws {
        let file = try XCTUnwrap(gzopen(path, "wb"))
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        XCTAssertEqual(Int(written), bytes.count)
        XCTAssertEqual(gzclose(file), Z_OK)
    }

    /// `<prefix>-images-idx3-ubyte` and labels with `count` rows x columns images.
    static func writeIdx(folder: String, prefix: String, count: Int, rows: Int = 28, columns: Int = 28, gzip: Bool) throws {
        var images = bigEndian(0x803) + bigEndian(count) + bigEndian(rows) + bigEndian(columns)
        for i in 0..<count { for y in 0..<rows { for x in 0..<columns { images.append(pattern(i, 0, y, x)) } } }
        let labels = bigEndian(0x801) + bigEndian(count) + (0..<count).map { UInt8($0 % 10) }
        let suffix = gzip ? ".gz" : ""
        let write: ([UInt8], String) throws -> Void = gzip ? writeGzip : write
        try write(images, "\(folder)/\(prefix)-images-idx3-ubyte\(suffix)")
        try write(labels, "\(folder)/\(prefix)-labels-idx1-ubyte\(suffix)")
    }

    /// A CIFAR-10 binary batch of `count` records, image i numbered from `first`.
    static func writeCIFAR(path: String, first: Int, count: Int) throws {
        var bytes: [UInt8] = []
        for i in first..<first + count {
            bytes.append(UInt8(i % 10))
            for c in 0..<3 { for y in 0..<32 { for x in 0..<32 { bytes.append(pattern(i, c, y, x)) } } }
        }
        try write(bytes, to: path)
    }

    /// An STL-10 binary file: each channel column-major, as MATLAB wrote it.
    static func writeSTL(path: String, first: Int, count: Int) throws {
        var bytes: [UInt8] = []
        for i in first..<first + count {
            for c in 0..<3 { for x in 0..<96 { for y in 0..<96 { bytes.append(pattern(i, c, y, x)) } } }
        }
        try write(bytes, to: path)
    }

    /// HWC RGB pixels of image `i` at `width` x `height`.
    static func rgb(_ i: Int, width: Int, height: Int) -> [UInt8] {
        var pixels: [UInt8] = []
        for y in 0..<height { for x in 0..<width { for c in 0..<3 { pixels.append(pattern(i, c, y, x)) } } }
        return pixels
    }

    /// One flat colour per image, which survives JPEG nearly exactly.
    static func flatColour(_ i: Int) -> [UInt8] {
        [UInt8(20 + 30 * (i % 8)), UInt8(200 - 20 * (i % 9)), UInt8(60 + 15 * (i % 11))]
    }

    static func writeFlatJPEG(path: String, _ i: Int, width: Int, height: Int) throws {
        let pixels = (0..<width * height).flatMap { _ in flatColour(i) }
        try writeJPEG(path: path, pixels: pixels, width: width, height: height, channels: 3, quality: 98)
    }

    /// A lossless WebP of `pixels` (HWC RGB).
    static func webp(_ pixels: [UInt8], width: Int, height: Int) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        let size = pixels.withUnsafeBufferPointer {
            WebPEncodeLosslessRGB($0.baseAddress, Int32(width), Int32(height), Int32(width * 3), &output)
        }
        defer { WebPFree(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    /// An ImageNet-style npz: `data` (count, 3*side*side) uint8 rows CHW with the pattern, `labels`.
    static func writeImageNetNPZ(path: String, first: Int, count: Int, side: Int, compressed: Bool) throws {
        try runPython("""
            import numpy as np
            i = np.arange(\(first), \(first + count)).reshape(-1, 1, 1, 1)
            c = np.arange(3).reshape(1, 3, 1, 1); y = np.arange(\(side)).reshape(1, 1, -1, 1); x = np.arange(\(side)).reshape(1, 1, 1, -1)
            data = ((i * 7 + c * 50 + y * 3 + x * 5) % 256).astype(np.uint8).reshape(\(count), -1)
            np.\(compressed ? "savez_compressed" : "savez")('\(path)', data=data, labels=np.arange(\(count)) % 1000 + 1)
            """)
    }

    /// Reads every image of a dataset.
    static func images(of dataset: ImageDataset) -> [[UInt8]] {
        (0..<dataset.count).map { index in
            [UInt8](unsafeUninitializedCapacity: dataset.shape.byteCount) { buffer, count in
                dataset.copyImage(index, into: buffer.baseAddress!)
                count = dataset.shape.byteCount
            }
        }
    }

    /// Every image a source streams.
    static func images(of source: ImageSource, warnings: inout [String]) throws -> [[UInt8]] {
        var result: [[UInt8]] = []
        var seen: [String] = []
        try source.forEachImage(warn: { seen.append($0) }) {
            result.append(Array(UnsafeBufferPointer(start: $0, count: source.shape.byteCount)))
        }
        warnings = seen
        return result
    }

    /// CHW bytes of image i with the pattern at the given shape.
    static func expected(_ i: Int, channels: Int, side: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for c in 0..<channels { for y in 0..<side { for x in 0..<side { bytes.append(pattern(i, c, y, x)) } } }
        return bytes
    }
}
