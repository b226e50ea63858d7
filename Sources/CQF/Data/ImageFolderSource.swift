// A folder tree of PNG and JPEG images (CelebA's `img_align_celeba/`, or any class-per-folder
// tree), in sorted path order, each center-cropped (CelebA: 178 or 96) and resized with the
// antialiasing filter (96 by default). An undecodable image or one smaller than the crop is
// skipped with a warning, not fatal: one bad file should not stop a pass over 200,000.
// A split list (SplitList.swift) picks the images of one split; a folder without one is a
// single set, which only `--split train` reads, so that nobody evaluates on training images
// believing them held out.
import Foundation

/// The images under one folder, found recursively, or those of one split of them.
public struct ImageFolderSource: ImageSource {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]
    public let path: String
    public let files: [String]
    public let shape: ImageShape
    public let crop: Int?

    public var expectedCount: Int { files.count }

    /// The images of `split`, as `splitFile` assigns them, or else CelebA's partition file in
    /// the folder or its parent.
    public init(path: String, split: Split = .train, splitFile: String? = nil, size: Int, crop: Int?) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
              let walker = FileManager.default.enumerator(atPath: path) else {
            throw DataError(file: path, "expected a folder of .png/.jpg/.jpeg images, found no such folder")
        }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let ext = (relative as NSString).pathExtension.lowercased()
            if ImageFolderSource.extensions.contains(ext) { found.append(relative) }
        }
        guard !found.isEmpty else {
            throw DataError(file: path, "expected .png/.jpg/.jpeg images in this folder or below it, found none")
        }
        found.sort()
        if let list = try (splitFile ?? SplitList.partitionFile(near: path)).map(SplitList.init(path:)) {
            found = try list.select(split, from: found, folder: path)
            guard !found.isEmpty else {
                throw DataError(file: list.path, "assigns no image of \(path) to the \(split.rawValue) split")
            }
        } else if split != .train {
            throw DataError(file: path, "has no split list (CelebA's \(SplitList.celebAPartitionName) in this folder or its parent, or --split-file FILE), so it is one set: read it with --split train")
        }
        self.path = path
        files = found.map { "\(path)/\($0)" }
        self.crop = crop
        shape = ImageShape(channels: 3, height: size, width: size)
    }

    public func forEachImage(in items: Range<Int>, warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        let decoder = ImageDecoder(size: shape.height, crop: crop)
        let image = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        defer { image.deallocate() }
        let contents = FileContents()
        for file in files[items] {
            do {
                try contents.read(file)
                try decoder.decode(contents.bytes, into: image)
            } catch let error as DataError {
                warn("\(file): \(error.description.hasSuffix(".") ? String(error.description.dropLast()) : error.description); skipped.")
                continue
            }
            try body(image)
        }
    }
}

/// A file read whole into a buffer reused from one file to the next.
final class FileContents {
    /// No image file of a dataset comes near this; a larger file (a stray archive or disk
    /// image in the folder) is refused before its size is allocated.
    static let largestFile = 1 << 28

    private var buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
    private var capacity = 1 << 20
    private(set) var count = 0

    deinit { buffer.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: count) }

    func read(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw DataError("cannot be opened (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw DataError("cannot be read (\(String(cString: strerror(errno))))") }
        let size = Int(status.st_size)
        guard size <= FileContents.largestFile else {
            throw DataError("is \(size) bytes, more than the \(FileContents.largestFile >> 20) MiB an image file is expected to have")
        }
        if size > capacity {
            buffer.deallocate()
            capacity = size
            buffer = .allocate(byteCount: size, alignment: 16)
        }
        count = 0
        while count < size {
            let got = Foundation.read(descriptor, buffer + count, size - count)
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw DataError("cannot be read (\(got < 0 ? String(cString: strerror(errno)) : "it ended early"))") }
            count += got
        }
    }
}
