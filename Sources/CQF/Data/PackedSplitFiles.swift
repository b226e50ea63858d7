// Packed files hold one split each, and the splits of one dataset sit side by side, named
// `NAME-train.packed`, `NAME-test.packed`, `NAME-validation.packed` (what `prepare --split S`
// is told to write, docs/data.md). So a config names its training file, and `eval`, `score`
// and the in-training FD probe, which ask for the test split of the same `data`, read the
// test file beside it: the held-out images follow from the training ones, with no second path
// to keep in step. A packed file not named by a split is one set, read for any split.
import Foundation

/// The packed file that holds `split` of the dataset whose packed file (of any split) is `path`.
/// Throws when the file named by that rule does not exist, saying how to write it.
public func packedFile(_ path: String, split: Split) throws -> String {
    let suffix = ".packed"
    guard path.hasSuffix(suffix) else { return path }
    let stem = path.dropLast(suffix.count)
    guard let named = Split.allCases.first(where: { stem.hasSuffix("-\($0.rawValue)") }) else { return path }
    guard named != split else { return path }
    let sibling = stem.dropLast(named.rawValue.count) + split.rawValue + suffix
    guard FileManager.default.fileExists(atPath: sibling) else {
        throw DataError(file: sibling, "does not exist: it is where the \(split.rawValue) split of \(path) is read from; write it with `Distributed prepare --split \(split.rawValue) --out \(sibling)` and the dataset's other options")
    }
    return sibling
}
