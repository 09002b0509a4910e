import CFFmpeg
import Foundation

/// What the clip cache remembers about a source so that a changed file is a miss: its size,
/// modification time (nanoseconds since the epoch) and a SHA-256 of its first and last MiB
/// (the whole file when it is at most 2 MiB). For a JPEG frame folder: the total size of its
/// frames, the latest modification time, and a SHA-256 over the frame names and sizes plus
/// the first and last frame's bytes.
public struct SourceIdentity: Equatable, Sendable, Codable {
    public var size: Int64
    public var mtimeNanoseconds: Int64
    /// `sha256:<hex>`.
    public var hash: String

    static let window = 1 << 20

    public init(size: Int64, mtimeNanoseconds: Int64, hash: String) {
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.hash = hash
    }

    public static func of(_ path: String) throws(MediaError) -> SourceIdentity {
        if Preflight.isDirectory(path) { return try ofFolder(path) }
        _ = try Preflight.regularFile(path)
        var st = stat()
        guard stat(path, &st) == 0 else { throw .io(file: path, what: "stat", errno: errno) }
        let size = Int64(st.st_size)
        let sha = SHA256()
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(file: path, what: "open", errno: errno) }
        defer { close(fd) }
        if size <= Int64(2 * window) {
            try sha.update(fd: fd, offset: 0, count: Int(size), file: path)
        } else {
            try sha.update(fd: fd, offset: 0, count: window, file: path)
            try sha.update(fd: fd, offset: size - Int64(window), count: window, file: path)
        }
        return SourceIdentity(size: size, mtimeNanoseconds: mtime(st), hash: "sha256:" + sha.hexDigest())
    }

    static func mtime(_ st: stat) -> Int64 {
        Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    private static func ofFolder(_ path: String) throws(MediaError) -> SourceIdentity {
        let frames = try FolderSource.listFrames(path)
        let sha = SHA256()
        var total: Int64 = 0
        var latest: Int64 = 0
        for f in frames {
            var st = stat()
            guard stat(f, &st) == 0 else { throw .io(file: f, what: "stat", errno: errno) }
            total += Int64(st.st_size)
            latest = max(latest, mtime(st))
            sha.update(Array("\((f as NSString).lastPathComponent):\(st.st_size)\n".utf8))
        }
        for f in [frames.first!, frames.last!] {
            let fd = open(f, O_RDONLY)
            guard fd >= 0 else { throw .io(file: f, what: "open", errno: errno) }
            defer { close(fd) }
            var st = stat()
            _ = fstat(fd, &st)
            try sha.update(fd: fd, offset: 0, count: Int(st.st_size), file: f)
        }
        return SourceIdentity(size: total, mtimeNanoseconds: latest, hash: "sha256:" + sha.hexDigest())
    }
}

/// SHA-256 via libavutil (already linked for decoding), owning its `AVSHA` context.
public final class SHA256 {
    private let context: OpaquePointer

    public init() {
        guard let c = av_sha_alloc() else { fatalError("av_sha_alloc: out of memory") }
        context = c
        _ = av_sha_init(context, 256)
    }

    deinit { av_free(UnsafeMutableRawPointer(context)) }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { av_sha_update(context, $0.baseAddress, $0.count) }
    }

    func update(fd: Int32, offset: Int64, count: Int, file: String) throws(MediaError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var done = 0
        while done < count {
            let want = min(buffer.count, count - done)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset) + off_t(done)) }
            if n < 0 { throw .io(file: file, what: "pread", errno: errno) }
            if n == 0 { throw .truncated(file: file, detail: "file shrank while hashing") }
            buffer.withUnsafeBufferPointer { av_sha_update(context, $0.baseAddress, n) }
            done += n
        }
    }

    /// The digest as lowercase hex; the context is finished afterwards.
    public func hexDigest() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        av_sha_final(context, &digest)
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}

extension SHA256 {
    /// Hex SHA-256 of a string's UTF-8 bytes.
    public static func hex(_ text: String) -> String {
        let sha = SHA256()
        sha.update(Array(text.utf8))
        return sha.hexDigest()
    }

    /// Hex SHA-256 of a file's bytes, read in 64 KiB blocks.
    public static func hex(fileAt path: String) throws(MediaError) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(file: path, what: "open", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(file: path, what: "fstat", errno: errno) }
        let sha = SHA256()
        try sha.update(fd: fd, offset: 0, count: Int(st.st_size), file: path)
        return sha.hexDigest()
    }
}

/// An advisory `flock` on a lock file, released in `deinit` (and by the kernel when the
/// process dies, which is what makes it safe against `kill -9`).
///
/// The holder writes who it is into the file (`pid`, `host`, `since`, `command`, one
/// `key=value` a line), so a process that has to wait says what it waits for and who holds
/// it, and then repeats a progress line every `FileLock.reportInterval` seconds until it
/// gets the lock (through `FileLock.reporter`, stderr by default).
public final class FileLock {
    let path: String
    private let fd: Int32

    /// Blocks until the exclusive lock is held, reporting the wait when it is not free.
    public init(path: String) throws(MediaError) {
        self.path = path
        fd = try FileLock.openLockFile(path)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let e = errno
                close(fd)
                throw .io(file: path, what: "flock", errno: e)
            }
            try waitForLock()
        }
        recordHolder()
    }

    /// Takes the lock only if it is free right now; nil when another process holds it.
    public init?(tryPath path: String) throws(MediaError) {
        self.path = path
        fd = try FileLock.openLockFile(path)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
        recordHolder()
    }

    deinit { close(fd) }

    private static func openLockFile(_ path: String) throws(MediaError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(file: path, what: "open lock file", errno: errno) }
        return fd
    }

    // MARK: waiting

    /// Receives the wait messages. Default: a line on stderr.
    nonisolated(unsafe) public static var reporter: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Seconds between progress lines while waiting: `TEMPO_LOCK_REPORT_SECONDS`, else 10.
    nonisolated(unsafe) public static var reportInterval: Double =
        ProcessInfo.processInfo.environment["TEMPO_LOCK_REPORT_SECONDS"].flatMap(Double.init).map { max(0.1, $0) } ?? 10

    private func waitForLock() throws(MediaError) {
        let start = Date()
        var holder = FileLock.holder(at: path)
        FileLock.reporter("waiting for \(path): held by \(holder?.description ?? "another process (not recorded)")")
        var lastReport = start
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { break }
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let e = errno
                close(fd)
                throw .io(file: path, what: "flock", errno: e)
            }
            usleep(100_000)
            let now = Date()
            if now.timeIntervalSince(lastReport) >= FileLock.reportInterval {
                lastReport = now
                if let current = FileLock.holder(at: path) { holder = current }
                FileLock.reporter("still waiting for \(path) after \(Int(now.timeIntervalSince(start))) s: held by "
                                  + (holder?.description ?? "another process (not recorded)"))
            }
        }
        let waited = Date().timeIntervalSince(start)
        FileLock.reporter("got \(path) after waiting \(String(format: "%.1f", waited)) s")
    }

    // MARK: holder record

    /// Who holds (or last held) a lock, as recorded in its file.
    public struct Holder: Equatable, Sendable, CustomStringConvertible {
        public var pid: Int32
        public var host: String
        /// When it took the lock (ISO 8601, UTC).
        public var since: String
        public var command: String

        public var description: String {
            var text = "pid \(pid) on \(host)"
            if !since.isEmpty { text += " since \(since)" }
            if !command.isEmpty { text += " (\(command))" }
            return text
        }
    }

    /// The holder recorded in the lock file at `path`, or nil when none is recorded.
    public static func holder(at path: String) -> Holder? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let pid = fields["pid"].flatMap({ Int32($0) }) else { return nil }
        return Holder(pid: pid, host: fields["host"] ?? "?", since: fields["since"] ?? "", command: fields["command"] ?? "")
    }

    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes this process into the lock file: overwritten in place, then cut to length, so a
    /// waiter reading it never sees an empty file. Best effort: the lock works without it.
    private func recordHolder() {
        let formatter = ISO8601DateFormatter()
        let command = ProcessInfo.processInfo.arguments.joined(separator: " ").replacingOccurrences(of: "\n", with: " ")
        let text = "pid=\(getpid())\nhost=\(FileLock.hostName)\nsince=\(formatter.string(from: Date()))\ncommand=\(command.prefix(300))\n"
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        if written == bytes.count { _ = ftruncate(fd, off_t(bytes.count)) }
    }
}
