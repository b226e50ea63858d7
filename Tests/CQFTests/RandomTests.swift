// Philox4x32-10 against Random123's published known-answer vectors, and the properties the
// rest of the project relies on: fills that do not depend on their length, sane moments, normals
// as accurate as float allows.
import Foundation
import XCTest
@testable import CQF

final class RandomTests: XCTestCase {
    private func assertBlock(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32),
                             expected: [UInt32], file: StaticString = #filePath, line: UInt = #line) {
        let out = Philox(key: key).block(counter)
        XCTAssertEqual([out.0, out.1, out.2, out.3], expected, file: file, line: line)
    }

    /// Random123 kat_vectors, philox4x32 with 10 rounds.
    func testKnownAnswerVectors() {
        assertBlock(counter: (0, 0, 0, 0), key: (0, 0),
                    expected: [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        assertBlock(counter: (.max, .max, .max, .max), key: (.max, .max),
                    expected: [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        assertBlock(counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0),
                    expected: [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    /// Element i of a fill is the same whether the buffer is filled at once or in pieces.
    func testFillsDoNotDependOnTheirSplit() {
        let rng = Philox(seed: 42, stream: PhiloxStream.dequantisation)
        for normal in [false, true] {
            var whole = [Float](repeating: 0, count: 37)
            var pieces = [Float](repeating: 0, count: 37)
            let fill = normal ? rng.fillNormal : rng.fillUniform
            whole.withUnsafeMutableBufferPointer { fill($0.baseAddress!, 37, 5, 9, 0) }
            pieces.withUnsafeMutableBufferPointer { p in
                fill(p.baseAddress!, 3, 5, 9, 0)
                fill(p.baseAddress! + 3, 10, 5, 9, 3)
                fill(p.baseAddress! + 13, 24, 5, 9, 13)
            }
            XCTAssertEqual(whole, pieces)
        }
    }

    func testUniformAndNormalMoments() {
        let n = 1 << 18
        var u = [Float](repeating: 0, count: n)
        var z = [Float](repeating: 0, count: n)
        let rng = Philox(seed: 1, stream: 99)
        u.withUnsafeMutableBufferPointer { rng.fillUniform($0.baseAddress!, count: n, a: 3, b: 4) }
        z.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: n, a: 3, b: 4) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / Float(n), 0.5, accuracy: 0.005)
        let mean = z.reduce(0, +) / Float(n)
        let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(n)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.01)
        XCTAssertTrue(z.allSatisfy { $0.isFinite })
    }

    /// Box-Muller's own logarithm, cosine and sine (BoxMuller.swift), on every argument a fill
    /// can give them, against the double-precision functions.
    func testBoxMullerFunctionsOnEveryArgument() {
        var logUlps = 0.0, trigError = 0.0
        for m in 0..<(1 << 24) {
            let u1 = (Float(m) + 1) * 0x1p-24
            let log = Foundation.log(Double(u1))
            if m + 1 < 1 << 24 { logUlps = max(logUlps, abs(Double(BoxMuller.logarithm(u1)) - log) / Double(Float(log).ulp)) }
            else { XCTAssertEqual(BoxMuller.logarithm(u1), 0) }
            let turns = Float(m) * 0x1p-24
            let (cosine, sine) = BoxMuller.cosineAndSine(turns: turns)
            let angle = 2 * Double.pi * Double(turns)
            trigError = max(trigError, abs(Double(cosine) - Foundation.cos(angle)), abs(Double(sine) - Foundation.sin(angle)))
        }
        XCTAssertLessThan(logUlps, 2, "log of u1 in (0, 1)")
        XCTAssertLessThan(trigError, 1.2e-7, "cos and sin of 2 pi u2")
    }

    /// A fill's normals are Box-Muller's in double precision on the same words, to float's
    /// precision: its block's words (0, 1) and (2, 3) as (u1, u2).
    func testNormalsAreBoxMullerOfTheWords() {
        let (n, rng) = (4096, Philox(seed: 8, stream: 21))
        var z = [Float](repeating: 0, count: n)
        z.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress! , count: n, a: 2, b: 6) }
        for i in stride(from: 0, to: n, by: 2) {
            let words = rng.block(a: 2, b: 6, blockIndex: i / 4)
            let (w1, w2) = i % 4 == 0 ? (words.0, words.1) : (words.2, words.3)
            let u1 = (Double(w1 >> 8) + 1) * 0x1p-24, u2 = Double(w2 >> 8) * 0x1p-24
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            let expected = (radius * Foundation.cos(2 * Double.pi * u2), radius * Foundation.sin(2 * Double.pi * u2))
            XCTAssertEqual(Double(z[i]), expected.0, accuracy: 1e-6 * max(1, radius), "element \(i)")
            XCTAssertEqual(Double(z[i + 1]), expected.1, accuracy: 1e-6 * max(1, radius), "element \(i + 1)")
        }
    }

    /// Different seeds, streams and counters give different numbers.
    func testKeysAndCountersSeparateStreams() {
        let a = Philox(seed: 1, stream: 1).block(a: 0, b: 0, blockIndex: 0)
        let b = Philox(seed: 1, stream: 2).block(a: 0, b: 0, blockIndex: 0)
        let c = Philox(seed: 2, stream: 1).block(a: 0, b: 0, blockIndex: 0)
        let d = Philox(seed: 1, stream: 1).block(a: 1, b: 0, blockIndex: 0)
        let e = Philox(seed: 1, stream: 1).block(a: 0, b: 1, blockIndex: 0)
        let firsts = Set([a.0, b.0, c.0, d.0, e.0])
        XCTAssertEqual(firsts.count, 5)
    }
}
