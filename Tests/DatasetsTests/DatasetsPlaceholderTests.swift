import XCTest
@testable import Datasets

final class DatasetsPlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(String(describing: DatasetsModule.self), "DatasetsModule") }
}
