package herald

import "os"

var stderr = os.Stderr
