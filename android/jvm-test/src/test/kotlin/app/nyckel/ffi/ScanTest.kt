package app.nyckel.ffi

import java.io.File
import javax.imageio.ImageIO
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

class ScanTest {
    private val samples = File("../../qr/tests/qr-samples")

    /** The luma plane of an image, laid out like a camera's Y plane with padded rows. */
    private fun lumaFrame(file: File, padding: Int): Triple<ByteArray, Int, Int> {
        val image = ImageIO.read(file)
        val stride = image.width + padding
        val luma = ByteArray(stride * image.height)
        for (y in 0 until image.height) {
            for (x in 0 until image.width) {
                val rgb = image.getRGB(x, y)
                val grey = (0.299 * (rgb shr 16 and 0xff) + 0.587 * (rgb shr 8 and 0xff) + 0.114 * (rgb and 0xff)).toInt()
                luma[y * stride + x] = grey.toByte()
            }
        }
        return Triple(luma, image.width, stride)
    }

    @Test
    fun `a camera-like frame with row padding decodes to the expected text`() {
        val file = File(samples, "qrcode-1/1.png")
        val (luma, width, stride) = lumaFrame(file, padding = 64)
        val height = luma.size / stride
        val codes = FrameScanner().scanFrame(luma, width.toUInt(), height.toUInt(), stride.toUInt(), 0)
        val expected = File(samples, "qrcode-1/1.txt").readText()
        assertTrue(codes.any { it.text == expected }, "decoded: ${codes.map { it.text }}")
    }

    @Test
    fun `an otpauth code made by ZXing is classified and can be added`() {
        val uri = "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME"
        val matrix = com.google.zxing.qrcode.QRCodeWriter().encode(uri, com.google.zxing.BarcodeFormat.QR_CODE, 300, 300)
        val image = java.awt.image.BufferedImage(matrix.width, matrix.height, java.awt.image.BufferedImage.TYPE_INT_RGB)
        for (y in 0 until matrix.height) for (x in 0 until matrix.width) image.setRGB(x, y, if (matrix[x, y]) 0 else 0xffffff)
        val png = java.io.ByteArrayOutputStream().also { ImageIO.write(image, "png", it) }.toByteArray()
        val code = scanImage(png).single()
        assertEquals(PayloadType.OTPAUTH, code.payloadType)
        assertEquals(uri, code.text)
        val app = Nyckel.open(
            java.nio.file.Files.createTempDirectory("nyckel-scan").resolve("v").toString(),
            InMemoryKeyStore(),
            FixedClock(0u),
            "JVM test",
        )
        app.addAccount(code.text!!)
        assertEquals(1, app.accounts().size)
    }

    @Test
    fun `malformed frames are typed errors, never crashes`() {
        val scanner = FrameScanner()
        assertFailsWith<NyckelException.InvalidInput> { scanner.scanFrame(ByteArray(10), 100u, 100u, 100u, 0) }
        assertFailsWith<NyckelException.InvalidInput> { scanner.scanFrame(ByteArray(0), 0u, 0u, 0u, 0) }
        assertFailsWith<NyckelException.InvalidInput> { scanner.scanFrame(ByteArray(100), 10u, 10u, 5u, 0) }
        assertFailsWith<NyckelException.InvalidInput> { scanner.scanFrame(ByteArray(100), 10u, 10u, 10u, 45) }
        assertFailsWith<NyckelException.InvalidInput> { scanImage(byteArrayOf(1, 2, 3)) }
        assertEquals(0, scanner.scanFrame(ByteArray(640 * 480) { 0x80.toByte() }, 640u, 480u, 640u, 0).size)
    }
}
