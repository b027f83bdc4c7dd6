package migrations

import "database/sql/driver"

// errBadConn, returned from sql.Conn.Raw, makes database/sql discard the
// connection instead of returning it to the pool.
var errBadConn = driver.ErrBadConn
