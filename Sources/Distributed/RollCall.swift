// Which rank stalled a collective: the ranks waiting in it cannot tell from the collective who is
// missing, so a rank whose watchdog fires asks the next rank (rank + 1, around the ring) what it
// is doing, over a communicator of its own. Each rank's watchdog thread answers within a tick,
// whatever its training thread is doing; a rank that is stopped, hung in the kernel or cut off
// answers nothing. Every rank asks one peer, so the roll call costs one message and at most one
// new connection per rank, on 4,000 ranks as on 2, and the stuck rank's predecessor names it.
import Foundation
import MPIShim

final class RollCall: @unchecked Sendable {
    private let comm: MPI_Comm
    private let rank: Int
    private let size: Int
    /// Answers on their way to the ranks that asked: MPI reads each buffer until its send completes.
    private var sending: [(request: MPI_Request?, buffer: UnsafeMutablePointer<CChar>)] = []
    /// Serialises the watchdog thread's MPI calls with `close`, after which none may come.
    private let lock = NSLock()
    private var closed = false
    private static let questionTag: Int32 = 1
    private static let answerTag: Int32 = 2
    private static let answerBytes = 512

    /// Takes `comm`, a duplicate of the world that only the roll call uses.
    init(comm: MPI_Comm, rank: Int, size: Int) {
        self.comm = comm
        self.rank = rank
        self.size = size
    }

    /// The rank this one asks.
    var successor: Int { (rank + 1) % size }

    /// Answers every question that has arrived with `activity`, what this rank is doing, which
    /// is worded only when a question came.
    func answerQuestions(activity: @autoclosure () -> String) {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        answerArrivedQuestions(activity)
    }

    /// Asks the successor what it is doing and waits up to `seconds` for the answer, answering
    /// the questions of others meanwhile; nil when no answer came. Failed MPI calls count as
    /// silence: the job is ending, and the answer is only for its last message.
    func askSuccessor(within seconds: Double, activity: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard !closed, size > 1 else { return nil }
        // Never freed: this runs once, just before the job ends, and MPI may use them until then.
        let question = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        question.initialize(to: 0)
        let answer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.answerBytes)
        var asked: MPI_Request? = nil
        var answered: MPI_Request? = nil
        guard MPI_Irecv(answer, Int32(Self.answerBytes), mpi_byte(), Int32(successor), Self.answerTag, comm, &answered) == MPI_SUCCESS,
              MPI_Isend(question, 1, mpi_byte(), Int32(successor), Self.questionTag, comm, &asked) == MPI_SUCCESS
        else { return nil }
        let deadline = monotonicSeconds() + seconds
        while monotonicSeconds() < deadline {
            answerArrivedQuestions { activity }
            var done: Int32 = 0
            guard MPI_Test(&answered, &done, mpi_status_ignore()) == MPI_SUCCESS else { return nil }
            if done != 0 {
                answer[Self.answerBytes - 1] = 0
                return String(cString: answer)
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    /// Stops the roll call before MPI_Finalize; a stalled rank's question then goes unanswered.
    func close() {
        lock.lock()
        closed = true
        lock.unlock()
    }

    private func answerArrivedQuestions(_ activity: () -> String) {
        completeSends()
        var arrived: Int32 = 0
        var status = MPI_Status()
        while MPI_Iprobe(mpi_any_source(), Self.questionTag, comm, &arrived, &status) == MPI_SUCCESS, arrived != 0 {
            var question: UInt8 = 0
            guard MPI_Recv(&question, 1, mpi_byte(), status.MPI_SOURCE, Self.questionTag, comm, mpi_status_ignore()) == MPI_SUCCESS
            else { return }
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.answerBytes)
            let text = Array(activity().utf8CString.dropLast().prefix(Self.answerBytes - 1)) + [0]
            buffer.initialize(from: text, count: text.count)
            var request: MPI_Request? = nil
            guard MPI_Isend(buffer, Int32(text.count), mpi_byte(), status.MPI_SOURCE, Self.answerTag, comm, &request) == MPI_SUCCESS
            else { buffer.deallocate(); return }
            sending.append((request, buffer))
        }
    }

    private func completeSends() {
        sending.removeAll { entry in
            var request = entry.request
            var done: Int32 = 0
            guard MPI_Test(&request, &done, mpi_status_ignore()) == MPI_SUCCESS, done != 0 else { return false }
            entry.buffer.deallocate()
            return true
        }
    }
}
