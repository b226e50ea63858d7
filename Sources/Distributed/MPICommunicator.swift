// The MPI implementation of CQF's `Communicator`, over Open MPI through MPIShim. Every MPI call
// is checked: a failure names the call, MPI's error string and the source line, then ends the
// whole job with MPI_Abort, never a hang. Each collective is marked for the stall watchdog.
// A process started without an MPI launcher never touches MPI: it runs as a world of one.
import CQF
import Foundation
import MPIShim

/// Exit status of a job ended by an MPI failure, a stall or diverged parameters (EX_SOFTWARE).
let mpiFailureExitStatus: Int32 = 70

final class MPICommunicator: Communicator {
    let rank: Int
    let size: Int
    /// Ranks of the job that share this node's memory (the thread budget divides the node by it).
    let ranksOnNode: Int
    var ranksShareOneNode: Bool { ranksOnNode == size }
    private let comm: MPI_Comm
    /// "world" or what a duplicate is for; named in every failure and stall message.
    private let name: String
    private let watchdog: StallWatchdog
    private let rollCall: RollCall
    private(set) var secondsInCollectives: Double = 0

    /// True when an MPI launcher started this process: `mpirun` (OMPI_COMM_WORLD_SIZE) or
    /// `srun --mpi=pmix` (PMIX_RANK). Refuses a multi-task `srun` without PMIx, whose tasks would
    /// each run alone and all write the same files.
    static func launchedUnderMPI() throws -> Bool {
        let environment = ProcessInfo.processInfo.environment
        if environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil { return true }
        if let tasks = environment["SLURM_STEP_NUM_TASKS"].flatMap(Int.init), tasks > 1 {
            throw UsageError("started by srun as one of \(tasks) tasks without PMIx, so the tasks cannot find each other: "
                + "use `srun --mpi=pmix` (Debian's Open MPI has no PMI2), or `mpirun` inside the allocation")
        }
        return false
    }

    /// The rank the launcher gave this process (0 when alone), read before MPI starts, so that a
    /// note for the user can be printed once rather than once per rank.
    static func rankFromLauncher() -> Int {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK"].lazy.compactMap { environment[$0].flatMap(Int.init) }.first ?? 0
    }

    /// Initialises MPI for the whole process. MPI_THREAD_MULTIPLE, because the gradient channel's
    /// thread runs collectives while the training thread runs its own (batch-norm sums), and the
    /// watchdog thread may call MPI_Abort at any time.
    init(stallTimeout: Double) {
        var provided: Int32 = 0
        let initialized = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_MULTIPLE), &provided)
        guard initialized == MPI_SUCCESS else {
            Console.error("error: MPI_Init_thread failed (\(MPICommunicator.errorString(initialized)))")
            exit(mpiFailureExitStatus)
        }
        comm = mpi_comm_world()
        name = "world"
        // Until the error handler is set, a failing call aborts inside MPI with its own message.
        MPI_Comm_set_errhandler(comm, mpi_errors_return())
        var value: Int32 = 0
        MPI_Comm_rank(comm, &value)
        rank = Int(value)
        MPI_Comm_size(comm, &value)
        size = Int(value)
        let rank = rank
        guard provided >= Int32(MPI_THREAD_MULTIPLE) else {
            MPICommunicator.abortJob("rank \(rank): this Open MPI provides thread level \(provided), not MPI_THREAD_MULTIPLE "
                + "(\(MPI_THREAD_MULTIPLE)), which the gradient channel's thread and the stall watchdog need")
        }
        var rollCallComm: MPI_Comm? = nil
        let context = "rank \(rank), world communicator"
        MPICommunicator.check(MPI_Comm_dup(comm, &rollCallComm), "MPI_Comm_dup", context)
        MPICommunicator.check(MPI_Comm_set_errhandler(rollCallComm, mpi_errors_return()), "MPI_Comm_set_errhandler", context)
        rollCall = RollCall(comm: rollCallComm!, rank: rank, size: size)
        watchdog = StallWatchdog(timeout: stallTimeout, rollCall: rollCall) { message in
            MPICommunicator.abortJob("rank \(rank): \(message)")
        }
        ranksOnNode = MPICommunicator.countRanksOnNode(comm, rank: rank)
    }

    private init(duplicating parent: MPICommunicator, name: String) {
        var duplicate: MPI_Comm? = nil
        parent.check(MPI_Comm_dup(parent.comm, &duplicate), "MPI_Comm_dup")
        comm = duplicate!
        self.name = name
        rank = parent.rank
        size = parent.size
        ranksOnNode = parent.ranksOnNode
        watchdog = parent.watchdog
        rollCall = parent.rollCall
        check(MPI_Comm_set_errhandler(comm, mpi_errors_return()), "MPI_Comm_set_errhandler")
    }

    func duplicated() -> Communicator {
        MPICommunicator(duplicating: self, name: "gradients")
    }

    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        allreduceSum(buffer, type: mpi_float())
    }

    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        allreduceSum(buffer, type: mpi_double())
    }

    /// In place: the blocking in-place allreduce is as fast as with two buffers (only Open MPI's
    /// non-blocking one falls back to a slow algorithm in place). MPI counts are 32-bit, so a
    /// buffer beyond 2^31 - 1 elements goes in several calls.
    private func allreduceSum<T>(_ buffer: UnsafeMutableBufferPointer<T>, type: MPI_Datatype) {
        guard size > 1, let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let count = min(buffer.count - start, Int(Int32.max))
            collective("MPI_Allreduce of \(count) \(T.self) values") {
                MPI_Allreduce(mpi_in_place(), base + start, Int32(count), type, mpi_sum(), comm)
            }
            start += count
        }
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        guard size > 1, let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let count = min(buffer.count - start, Int(Int32.max))
            collective("MPI_Bcast of \(count) bytes from rank \(root)") {
                MPI_Bcast(base + start, Int32(count), mpi_byte(), Int32(root), comm)
            }
            start += count
        }
    }

    func barrier() {
        collective("MPI_Barrier") { MPI_Barrier(comm) }
    }

    func abort(_ message: String, code: Int32) -> Never {
        MPICommunicator.abortJob("rank \(rank): \(message)", code: code)
    }

    /// Ends MPI once every rank has come here; after this no collective may run.
    func finalize() {
        rollCall.close()
        check(MPI_Finalize(), "MPI_Finalize")
    }

    /// Runs one collective call between the watchdog's marks, timed, and checked.
    private func collective(_ description: String, file: StaticString = #fileID, line: UInt = #line, _ call: () -> Int32) {
        watchdog.begin("\(description) on the \(name) communicator", on: self)
        let started = monotonicSeconds()
        let result = call()
        secondsInCollectives += monotonicSeconds() - started
        watchdog.end(on: self)
        check(result, String(description.prefix { $0 != " " }), file: file, line: line)
    }

    private func check(_ result: Int32, _ call: String, file: StaticString = #fileID, line: UInt = #line) {
        MPICommunicator.check(result, call, "rank \(rank), \(name) communicator", file: file, line: line)
    }

    private static func check(_ result: Int32, _ call: String, _ context: String, file: StaticString = #fileID, line: UInt = #line) {
        guard result != MPI_SUCCESS else { return }
        abortJob("\(context): \(call) failed: \(errorString(result)) (\(file):\(line))")
    }

    /// MPI_COMM_TYPE_SHARED groups the ranks that share memory, whichever launcher placed them.
    private static func countRanksOnNode(_ comm: MPI_Comm, rank: Int) -> Int {
        var node: MPI_Comm? = nil
        var count: Int32 = 0
        let context = "rank \(rank), world communicator"
        check(MPI_Comm_split_type(comm, Int32(MPI_COMM_TYPE_SHARED), Int32(rank), mpi_info_null(), &node),
              "MPI_Comm_split_type", context)
        check(MPI_Comm_size(node, &count), "MPI_Comm_size", context)
        check(MPI_Comm_free(&node), "MPI_Comm_free", context)
        return Int(count)
    }

    private static func errorString(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: Int(mpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &text, &length) == MPI_SUCCESS else { return "MPI error \(code)" }
        return String(cString: text)
    }

    /// MPI_Abort on the world: Open MPI then kills every rank of the job.
    private static func abortJob(_ message: String, code: Int32 = mpiFailureExitStatus) -> Never {
        Console.error("error: \(message)")
        MPI_Abort(mpi_comm_world(), code)
        exit(code)
    }
}

/// The communicator of this process: MPI when a launcher started it, else a world of one, so
/// that single-node debug mode needs no mpirun.
func startCommunicator(stallTimeout: Double) throws -> Communicator {
    try MPICommunicator.launchedUnderMPI() ? MPICommunicator(stallTimeout: stallTimeout) : SingleProcess()
}

/// Ends MPI if this process started it. Every rank must come here, after its last collective.
func finishCommunicator(_ communicator: Communicator) {
    (communicator as? MPICommunicator)?.finalize()
}

/// Ends the job with exit status 2 when the global batch does not split over the ranks. Every rank
/// reaches the same verdict from the same settings, so this is bad input, not a failed rank: rank 0
/// alone says so and every rank leaves MPI in order (MPI_Abort would add a banner and a line per rank).
func exitUnlessBatchSplits(_ batch: Int, command: String, communicator: Communicator) {
    let ranks = communicator.size
    guard batch % ranks != 0 else { return }
    if communicator.isRoot {
        Console.error("error: \(command): the global batch \(batch) does not split over \(ranks) ranks; "
            + "pass a multiple of \(ranks) (for example --batch \(max(1, batch / ranks) * ranks))")
    }
    finishCommunicator(communicator)
    exit(2)
}
