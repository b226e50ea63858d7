// `--data PATH` and `--split S` for the commands that read a dataset by its kind (`prepare`, `classifier`, `score`).
// Fashion-MNIST defaults to where Debian's dataset-fashion-mnist installs it, as `train`'s
// built-in config does, so that the first run needs no download.
import CQF
import Foundation

extension Arguments {
    /// `--data`, or the installed Fashion-MNIST for that kind; refuses a path that does not
    /// exist, saying how to get the default one.
    mutating func dataPath(for kind: DatasetKind) throws -> String {
        let installed = kind == .fashionMNIST ? Config().data : nil
        guard let data = try string("data") ?? installed else {
            throw UsageError("\(command): --data PATH is required for --dataset \(kind.rawValue)")
        }
        guard FileManager.default.fileExists(atPath: data) else {
            let hint = kind == .fashionMNIST ? " (install Debian's dataset-fashion-mnist, or pass --data)" : ""
            throw UsageError("\(command): --data \(data) does not exist\(hint)")
        }
        return data
    }

    /// `--split`, nil when it is absent; the names are Split's (train, validation, test,
    /// labelled), and which ones a dataset has is checked when it is opened.
    mutating func split() throws -> Split? {
        guard let name = try string("split") else { return nil }
        guard let split = Split(rawValue: name) else {
            throw UsageError("\(command): --split expects one of \(Split.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
        }
        return split
    }
}
