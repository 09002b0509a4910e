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
public final class FileLock {
    let path: String
    private let fd: Int32

    /// Blocks until the exclusive lock is held.
    public init(path: String) throws(MediaError) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(file: path, what: "open lock file", errno: errno) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            throw .io(file: path, what: "flock", errno: e)
        }
    }

    /// Takes the lock only if it is free right now; nil when another process holds it.
    public init?(tryPath path: String) throws(MediaError) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(file: path, what: "open lock file", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }
}
