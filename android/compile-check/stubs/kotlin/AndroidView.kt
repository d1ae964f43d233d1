// COMPILE-ONLY STUB of androidx.compose.ui:ui 1.7, androidx.compose.ui.viewinterop (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.compose.ui.viewinterop

import android.content.Context
import android.view.View
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import app.nyckel.compilestub.stub

@Composable
fun <T : View> AndroidView(factory: (Context) -> T, modifier: Modifier = Modifier, update: (T) -> Unit = {}): Unit = stub()
