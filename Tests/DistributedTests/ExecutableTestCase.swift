// What the tests of the built executable share: running `Distributed` alone or under
// `mpirun -n P` with a deadline, and temporary folders.
import Foundation
import XCTest

class ExecutableTestCase: XCTestCase {
    struct Result {
        let status: Int32
        let standardOutput: String
        let standardError: String
        var errorLines: [String] { standardError.split(separator: "\n").map(String.init) }
    }

    /// Runs `Distributed arguments`, alone when `ranks` is nil, else under `mpirun -n ranks`; a run
    /// that outlives `timeout` is killed and fails the test (a hang must not hold CI).
    func run(_ arguments: [String], ranks: Int?, timeout: TimeInterval,
             file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let process = Process()
        var environment = ProcessInfo.processInfo.environment
        if let ranks {
            process.executableURL = try mpirun(file: file, line: line)
            process.arguments = ["--allow-run-as-root", "--oversubscribe", "-n", String(ranks), distributedExecutable().path] + arguments
            environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        } else {
            process.executableURL = distributedExecutable()
            process.arguments = arguments
        }
        process.environment = environment
        // Files, not pipes: a chatty run cannot block on a full pipe that nobody reads yet.
        let logs = try temporaryFolder()
        let (outPath, errPath) = (logs.appendingPathComponent("stdout"), logs.appendingPathComponent("stderr"))
        _ = FileManager.default.createFile(atPath: outPath.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outPath)
        process.standardError = try FileHandle(forWritingTo: errPath)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            // SIGTERM lets mpirun take its ranks down with it; SIGKILL if it does not go.
            process.terminate()
            usleep(3_000_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            XCTFail("`Distributed \(arguments.joined(separator: " "))` was still running after \(Int(timeout)) s", file: file, line: line)
        }
        process.waitUntilExit()
        func text(_ path: URL) throws -> String { String(decoding: try Data(contentsOf: path), as: UTF8.self) }
        return Result(status: process.terminationStatus, standardOutput: try text(outPath), standardError: try text(errPath))
    }

    /// mpirun from PATH; its absence fails the test (setup installs it: a test that skips did not run).
    func mpirun(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        XCTFail("mpirun is not on PATH: apt-get install openmpi-bin (or run launch/setup.sh)", file: file, line: line)
        throw MissingPrerequisite(name: "mpirun")
    }

    /// Thrown after the failure is recorded, to end the test (never an XCTSkip: a skip would pass).
    struct MissingPrerequisite: Error { let name: String }
    struct RunFailed: Error { let label: String }

    /// A fresh folder, removed after the test unless `keep` (runs shared between tests).
    func temporaryFolder(keep: Bool = false) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("distributed-test-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if !keep { addTeardownBlock { try? FileManager.default.removeItem(at: folder) } }
        return folder
    }
}
