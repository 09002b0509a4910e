import XCTest
@testable import VTHCL

final class VTHCLPlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(String(describing: VTHCLModule.self), "VTHCLModule") }
}
