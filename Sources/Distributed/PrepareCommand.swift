// `Distributed prepare`: any dataset as its publisher ships it into one packed,
// memory-mappable file (Sources/CQF/Data/PackedFile.swift) that `train --dataset packed` reads.
import CQF
import Foundation

let prepareCommand = Command(
    name: "prepare",
    summary: "pack a dataset as published into one memory-mappable file",
    usage: """
        usage: Distributed prepare --dataset KIND --data PATH --out FILE [--size N] [--crop N]
                                   [--split S] [--split-file FILE]

        Reads a dataset as its publisher ships it and writes one packed file: a 64-byte header
        (magic, version, count, channels, height, width, CRC-32) and the images as uint8 NCHW.
        Memory stays constant whatever the size of the dataset; the file is written under a
        temporary name and renamed when complete. Under `mpirun -n P` the ranks share the work:
        each reads and decodes a contiguous block of the source (files, records, rows) and
        writes its images in place, so the file has the same bytes as a one-rank prepare; the
        output must be on a file system every rank sees.

          --dataset KIND  fashion-mnist, mnist  idx files, gzipped or not (28x28 padded to 32x32)
                          cifar10               data_batch_1..5.bin / test_batch.bin
                          stl10                 unlabeled_X.bin / test_X.bin (train_X.bin: --split labelled)
                          imagenet64            train_data_batch_1..10.npz / val_data.npz
                          lsun                  an lmdb folder (or its data.mdb) of WebP/JPEG images:
                                                bedroom_train_lmdb / bedroom_val_lmdb (the 300 test images)
                          folder                a folder tree of PNG/JPEG images (e.g. CelebA)
                          packed                a file written by prepare (to crop or resize it)
          --data PATH     the folder (or file) holding the dataset
                          (default for fashion-mnist: /usr/share/datasets/fashion-mnist)
          --out FILE      the packed file to write; name a dataset's splits NAME-train.packed,
                          NAME-test.packed (NAME-validation.packed): eval, score and training's
                          FD probe read the test split of NAME-train.packed from NAME-test.packed
          --size N        resize to N x N with an antialiasing filter
                          (default: the format's own size; 64 for lsun, 96 for folder)
          --crop N        center crop N x N first (default: the shorter side);
                          CelebA: --crop 178 --size 96 (or --crop 96 --size 96)
          --split S       train (default), test, validation (folders with a split list,
                          packed files) or labelled (STL-10's 5,000 labelled images)
          --split-file F  for --dataset folder: lines `NAME SPLIT`, NAME a path below the
                          folder, SPLIT 0/1/2 or train/validation/test; without it, CelebA's
                          list_eval_partition.txt in the folder or its parent is used, and a
                          folder with neither is one set, read with --split train

        Damaged input: a truncated, wrong-size, wrong-magic or corrupt file is an error that
        names the file (exit status 2). In a folder or an LSUN database, an undecodable image
        or one smaller than the crop is skipped with a warning naming it, and the number
        skipped is reported at the end; if nothing can be read, it is an error.
        """,
    run: { arguments in
        guard let kindName = try arguments.string("dataset") else {
            throw UsageError("prepare: --dataset KIND is required (one of \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let kind = DatasetKind(rawValue: kindName) else {
            throw UsageError("prepare: unknown --dataset '\(kindName)'; expected one of \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let data = try arguments.dataPath(for: kind)
        guard let out = try arguments.string("out") else { throw UsageError("prepare: --out FILE is required") }
        let size = try arguments.int("size", range: 1...4096)
        let crop = try arguments.int("crop", range: 1...65536)
        let split = try arguments.split() ?? .train
        let splitFile = try arguments.string("split-file")
        try arguments.finish()

        // Every input is opened before the first collective, so bad input is one line and exit 2 on every rank.
        let source = try openImageSource(kind: kind, path: data, split: split, splitFile: splitFile, size: size, crop: crop)
        // A rank waits at the end for the slowest block; blocks of equal items take minutes
        // longer than one another on millions of images, which is no stall.
        let communicator = try startCommunicator(stallTimeout: 24 * 3600)
        let (rank, ranks) = (communicator.rank, communicator.size)
        if communicator.isRoot {
            printError("prepare: \(kind.rawValue) \(split.rawValue) from \(data): up to \(source.expectedCount) images of \(source.shape) -> \(out)"
                + (ranks > 1 ? " over \(ranks) ranks" : ""))
        }
        let listedWarnings = 20
        var warnings = 0
        let block = source.expectedCount * (rank + 1) / ranks - source.expectedCount * rank / ranks
        let progress = ProgressLine(total: block, unit: "images", label: "prepare\(ranks > 1 ? " (rank 0's block)" : "")",
                                    enabled: communicator.isRoot)
        let summary: PrepareSummary
        do {
            summary = try prepareDataset(source, to: out, over: communicator, progress: progress) { warning in
                warnings += 1
                guard warnings <= listedWarnings else { return }
                if communicator.isRoot { progress.interject("warning: \(warning)") } else { printError("warning: \(warning)") }
            }
        } catch {
            // One rank's failure ends the job at once, never a hang of the others.
            if ranks > 1 { communicator.abort("\(error)", code: 2) }
            throw error
        }
        if warnings > listedWarnings { printError("warning: \(warnings - listedWarnings) more skipped images not listed\(ranks > 1 ? " (rank \(rank))" : "")") }
        if communicator.isRoot {
            print(String(format: "wrote %@: %d images of %@, %d skipped, CRC-32 %08x, %.1f s (%.0f images/s)",
                         out, summary.count, summary.shape.description, summary.skipped, summary.checksum,
                         summary.seconds, Double(summary.count) / max(summary.seconds, 1e-9)))
        }
        finishCommunicator(communicator)
    }
)

private func printError(_ line: String) {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
}
