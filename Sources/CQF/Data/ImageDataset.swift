// What every dataset reader offers, and the one place that turns `--dataset KIND --data PATH`
// into a reader.
//
//   ImageSource   streams uint8 CHW images once, in a fixed order, in constant memory: what
//                 `prepare` needs, and all that the big or compressed formats (ImageNet 64x64
//                 npz, LSUN lmdb, folders of PNG/JPEG) can offer cheaply.
//   ImageDataset  adds random access by index: packed files (memory-mapped) and the small
//                 fixed-record formats (idx, CIFAR-10, STL-10), which the loader reads directly.
//
// Images are uint8, planar CHW (C = 1 gray or 3 RGB), all of one shape within a dataset.

/// The shape of every image of a dataset.
public struct ImageShape: Equatable, Codable, CustomStringConvertible, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// Bytes (and values) in one image: C*H*W.
    public var byteCount: Int { channels * height * width }

    public var description: String { "\(channels)x\(height)x\(width)" }
}

/// Images read once, in order.
public protocol ImageSource {
    var shape: ImageShape { get }
    /// How many items (files, records, rows) the source holds: the images it will give, or an
    /// upper bound when it may skip bad ones.
    var expectedCount: Int { get }
    /// Calls `body` with the image of each item in `items` (a range of `0..<expectedCount`;
    /// `shape.byteCount` bytes, CHW) in the source's order; the pointer is valid during the call
    /// only. Items that are better skipped than fatal (an undecodable file in a folder of
    /// thousands) are reported through `warn` instead, one sentence each. Ranks that share out
    /// `prepare` each read one range, so a source skips the items before its range unread where
    /// its format allows.
    func forEachImage(in items: Range<Int>, warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws
}

extension ImageSource {
    /// Every item's image, in order.
    public func forEachImage(warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        try forEachImage(in: 0..<expectedCount, warn: warn, body)
    }
}

/// Images read by index, in any order, from any thread.
public protocol ImageDataset: ImageSource {
    var count: Int { get }
    /// Copies image `index` (0..<count) as `shape.byteCount` bytes CHW into `destination`.
    func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>)
    /// The class of each image, when the format carries one.
    var labels: [Int]? { get }
}

extension ImageDataset {
    public var expectedCount: Int { count }
    public var labels: [Int]? { nil }

    public func forEachImage(in items: Range<Int>, warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        let image = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        defer { image.deallocate() }
        for index in items {
            copyImage(index, into: image)
            try body(image)
        }
    }
}

/// The formats `--dataset` names (CLI.md).
public enum DatasetKind: String, CaseIterable, Sendable {
    case fashionMNIST = "fashion-mnist"
    case mnist
    case cifar10
    case stl10
    case imagenet64
    case lsun
    case folder
    case packed
}

/// Which part of a dataset, named on the command line by its raw value (`--split validation`).
/// Every kind has `train` and `test`; `validation` is CelebA's partition 1 (folders with a
/// split list, and packed files); `labelled` is STL-10's 5,000 labelled training images, which
/// its `train` (the 100,000 unlabeled ones, as the paper trains on) leaves out.
public enum Split: String, CaseIterable, Sendable {
    case train
    case validation
    case test
    case labelled
}

extension DatasetKind {
    /// The splits this kind of data holds. Packed files hold one split each, found beside one
    /// another by name (PackedSplitFiles.swift), so any split can be asked of them.
    public var splits: [Split] {
        switch self {
        case .fashionMNIST, .mnist, .cifar10, .imagenet64, .lsun: return [.train, .test]
        case .stl10: return [.train, .labelled, .test]
        case .folder: return [.train, .validation, .test]
        case .packed: return Split.allCases
        }
    }

    /// Refuses a split this kind does not have, saying which it has.
    func check(_ split: Split) throws {
        guard splits.contains(split) else {
            throw DataError("--split \(split.rawValue): \(rawValue) has no such split; it has \(splits.map(\.rawValue).joined(separator: ", "))")
        }
    }
}

/// The dataset at `path` for the loader: packed files memory-mapped, idx/CIFAR-10/STL-10 read
/// as published. Throws, saying to run `prepare`, for the compressed or variable-size kinds,
/// which would be far too slow (or, for ImageNet, too big) to decode at every step.
public func openDataset(kind: DatasetKind, path: String, split: Split) throws -> ImageDataset {
    try kind.check(split)
    switch kind {
    case .fashionMNIST, .mnist: return try IdxDataset(directory: path, split: split)
    case .cifar10: return try CIFAR10Dataset(directory: path, split: split)
    case .stl10: return try STL10Dataset(directory: path, split: split)
    case .packed: return try PackedDataset(path: packedFile(path, split: split))
    case .imagenet64, .lsun, .folder:
        throw DataError("--dataset \(kind.rawValue) is read through `prepare` only: run `Distributed prepare --dataset \(kind.rawValue) --data \(path) --out FILE` and then use --dataset packed --data FILE.")
    }
}

/// Any dataset as a stream for `prepare`, center-cropped to `crop` (nil: the shorter side) and
/// resized to `size` x `size` (nil: the format's own size; 64 for LSUN, 96 for folders). A
/// folder's split comes from `splitFile` (lines `name split`), or else from CelebA's
/// `list_eval_partition.txt` in the folder or its parent.
public func openImageSource(kind: DatasetKind, path: String, split: Split, splitFile: String? = nil,
                            size: Int? = nil, crop: Int? = nil) throws -> ImageSource {
    try kind.check(split)
    if let splitFile, kind != .folder {
        throw DataError(file: splitFile, "a split file splits a folder of images (--dataset folder), not \(kind.rawValue)")
    }
    switch kind {
    case .lsun:
        return try LSUNSource(path: path, split: split, size: size ?? 64, crop: crop)
    case .folder:
        return try ImageFolderSource(path: path, split: split, splitFile: splitFile, size: size ?? 96, crop: crop)
    case .imagenet64:
        return try centerCropped(ImageNet64Source(directory: path, split: split), size: size, crop: crop)
    case .fashionMNIST, .mnist, .cifar10, .stl10, .packed:
        return try centerCropped(openDataset(kind: kind, path: path, split: split), size: size, crop: crop)
    }
}
