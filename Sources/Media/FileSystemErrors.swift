import Foundation

/// Readable file-system failures: the path, what was being done, the system's reason and
/// the likely fix, instead of an errno number or a Foundation `NSCocoaErrorDomain` dump.
public enum FileSystemErrors {
    /// The likely fix for `errno` `code` while working on `path` (a sentence, or "" when
    /// there is nothing useful to add).
    public static func hint(errno code: Int32, path: String) -> String {
        switch code {
        case EACCES, EPERM:
            return "likely fix: \(permissions(path)); make it accessible (chmod/chown), or use a location you can write"
        case EROFS:
            return "likely fix: the file system holding it is mounted read-only; use a location on a writable one"
        case ENOSPC:
            return "likely fix: the device is full; free space (`df -h \(existingAncestor(path))`) or use another location"
        case EDQUOT:
            return "likely fix: your disk quota is used up; free space or use another location"
        case ENOENT, ENOTDIR:
            return "likely fix: check the path; \(existingAncestor(path)) is the deepest part of it that exists"
        case EMFILE, ENFILE:
            return "likely fix: too many open files; raise the limit (`ulimit -n`)"
        case EISDIR:
            return "likely fix: a folder is in the way where a file was expected; move it"
        case EEXIST:
            return "likely fix: something already exists under that name; remove or rename it"
        case ENAMETOOLONG:
            return "likely fix: the path is too long for the file system; use a shorter one"
        default:
            return ""
        }
    }

    /// `reason (errno N); likely fix: ...` for `code` at `path`.
    public static func reason(errno code: Int32, path: String) -> String {
        let base = "\(String(cString: strerror(code))) (errno \(code))"
        let fix = hint(errno: code, path: path)
        return fix.isEmpty ? base : "\(base); \(fix)"
    }

    /// A one-line description of a Foundation file error (`CocoaError` / `NSError` carrying a
    /// path, usually with a POSIX error underneath), or nil for other errors. `doing` says
    /// what was being done when it is known better than the error code tells.
    public static func describe(_ error: Error, doing: String? = nil) -> String? {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return nil }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String)
            ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
            ?? (ns.userInfo["NSURL"] as? URL)?.path
        var code: Int32? = ns.domain == NSPOSIXErrorDomain ? Int32(ns.code) : nil
        if code == nil, let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            code = Int32(underlying.code)
        }
        if code == nil { code = errnoFor(cocoaCode: ns.code) }
        guard let path else {
            guard let code else { return nil }
            return "\(doing ?? action(cocoaCode: ns.code)) failed: \(reason(errno: code, path: "."))"
        }
        let what = doing ?? action(cocoaCode: ns.code)
        guard let code else {
            // Foundation gave no system error (its "unknown" codes): say where to look.
            return "\(path): \(what) failed (Foundation file error \(ns.code)); likely fix: check the path: "
                + "\(existingAncestor(path)) is the deepest part of it that exists (\(permissions(path)))"
        }
        return "\(path): \(what) failed: \(reason(errno: code, path: path))"
    }

    /// The POSIX error code inside a Foundation file error (or `fallback`).
    public static func errno(of error: Error, fallback: Int32 = EIO) -> Int32 {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return Int32(ns.code) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return Int32(underlying.code)
        }
        if ns.domain == NSCocoaErrorDomain, let code = errnoFor(cocoaCode: ns.code) { return code }
        return fallback
    }

    /// What a Foundation file error code says was being done.
    static func action(cocoaCode: Int) -> String {
        switch cocoaCode {
        case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileReadNoSuchFile.rawValue,
             CocoaError.fileReadCorruptFile.rawValue, CocoaError.fileReadUnknown.rawValue,
             CocoaError.fileReadInvalidFileName.rawValue, CocoaError.fileReadTooLarge.rawValue:
            return "reading"
        case CocoaError.fileNoSuchFile.rawValue, CocoaError.fileLocking.rawValue:
            return "file operation"
        default:
            return "writing"
        }
    }

    static func errnoFor(cocoaCode: Int) -> Int32? {
        switch cocoaCode {
        case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileWriteNoPermission.rawValue: return EACCES
        case CocoaError.fileReadNoSuchFile.rawValue, CocoaError.fileNoSuchFile.rawValue: return ENOENT
        case CocoaError.fileWriteOutOfSpace.rawValue: return ENOSPC
        case CocoaError.fileWriteVolumeReadOnly.rawValue: return EROFS
        case CocoaError.fileWriteFileExists.rawValue: return EEXIST
        default: return nil
        }
    }

    /// `PATH is owned by uid U, mode rwxr-xr-x; you are uid V` for the path or, when it does
    /// not exist, for the folder that would hold it.
    static func permissions(_ path: String) -> String {
        let target = existingAncestor(path)
        var st = stat()
        guard stat(target, &st) == 0 else { return "check the permissions of \(target)" }
        let bits = Int(st.st_mode) & 0o777
        let letters = (0..<9).map { i -> Character in
            (bits & (1 << (8 - i))) != 0 ? Array("rwx")[i % 3] : "-"
        }
        return "\(target) is owned by uid \(st.st_uid), mode \(String(letters)); you are uid \(getuid())"
    }

    /// `path` itself when it exists, else its deepest existing ancestor.
    static func existingAncestor(_ path: String) -> String {
        var p = path.isEmpty ? "." : path
        var st = stat()
        while stat(p, &st) != 0 {
            let parent = (p as NSString).deletingLastPathComponent
            if parent.isEmpty { return "." }
            if parent == p { return p }
            p = parent
        }
        return p
    }

    /// Whether this process may create and replace files in `folder`: `access(2)` with
    /// `W_OK | X_OK`, which also answers for root (root passes permission bits, but not a
    /// read-only mount).
    public static func canWrite(_ folder: String) -> Bool {
        access(folder, W_OK | X_OK) == 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
