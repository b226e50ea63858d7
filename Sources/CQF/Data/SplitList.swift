// A list that assigns the images of a folder to splits, one `name split` line per image:
// CelebA's `list_eval_partition.txt` (`000001.jpg 0`, with 0 train, 1 validation, 2 test), or
// any file in that form given with `--split-file`, whose split may also be spelled out (train,
// validation, test). A name is the image's path relative to the folder. The list and the folder
// must agree: a listed name that the folder lacks, a line of another form, or a name listed
// twice is an error naming the file and the line, so that a truncated download or the list of
// another dataset is caught before hours of packing.
import Foundation

/// The split of each image of a folder, as a list file gives it.
public struct SplitList: Sendable {
    /// CelebA's partition file, which its loaders look for beside `img_align_celeba/`.
    public static let celebAPartitionName = "list_eval_partition.txt"
    /// Lists are text of about 20 bytes an image; this bound (50 million images) is far above
    /// any dataset of the paper and keeps a wrong `--split-file` from filling memory.
    static let largestFile = 1 << 30

    public let path: String
    /// Each listed name with its split and the line that lists it.
    let entries: [String: (split: Split, line: Int)]

    public init(path: String) throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? Int else {
            throw DataError(file: path, "cannot be read; expected a split list of `name split` lines")
        }
        guard size <= SplitList.largestFile else {
            throw DataError(file: path, "is \(size) bytes; a split list of `name split` lines is expected to be under \(SplitList.largestFile) bytes")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot be read; expected a split list of `name split` lines")
        }
        var entries: [String: (split: Split, line: Int)] = [:]
        // Lines end in \n or \r\n (one Character in Swift, so split on newlines, not on "\n").
        for (index, text) in String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = index + 1
            let content = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if content.isEmpty { continue }
            // The split is the last field, so that a name may hold spaces.
            guard let gap = content.lastIndex(where: \.isWhitespace),
                  let split = SplitList.split(named: String(content[content.index(after: gap)...])) else {
                throw DataError(file: "\(path):\(line)", "expected `NAME SPLIT` with SPLIT 0, 1, 2, train, validation or test, found '\(content.prefix(80))'")
            }
            let name = content[..<gap].trimmingCharacters(in: .whitespaces)
            if let earlier = entries[name] {
                throw DataError(file: "\(path):\(line)", "\(name) is listed again (first on line \(earlier.line))")
            }
            entries[name] = (split, line)
        }
        guard !entries.isEmpty else {
            throw DataError(file: path, "lists no image; expected `name split` lines")
        }
        self.path = path
        self.entries = entries
    }

    /// CelebA's numbers, or the names of the splits a folder can have.
    static func split(named field: String) -> Split? {
        switch field {
        case "0", Split.train.rawValue: return .train
        case "1", Split.validation.rawValue: return .validation
        case "2", Split.test.rawValue: return .test
        default: return nil
        }
    }

    /// The files of `split` among `files`, paths relative to `folder`, in their given order.
    /// Every listed name must be one of `files`; files the list does not name are in no split.
    func select(_ split: Split, from files: [String], folder: String) throws -> [String] {
        let present = Set(files)
        if let missing = entries.filter({ !present.contains($0.key) }).min(by: { $0.value.line < $1.value.line }) {
            throw DataError(file: "\(path):\(missing.value.line)", "\(missing.key) is not an image in \(folder)")
        }
        return files.filter { entries[$0]?.split == split }
    }

    /// CelebA's partition file in `folder` or in its parent (`celeba/list_eval_partition.txt`
    /// beside `celeba/img_align_celeba/`), if there is one.
    public static func partitionFile(near folder: String) -> String? {
        let url = URL(fileURLWithPath: folder)
        return [url, url.deletingLastPathComponent()]
            .map { $0.appendingPathComponent(celebAPartitionName).path }
            .first { FileManager.default.fileExists(atPath: $0) }
    }
}
