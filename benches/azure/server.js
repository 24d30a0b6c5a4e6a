// Microsoft's reference server (azure-mobile-apps 4.0.2, SQLite provider) for the
// `reference` benchmark: one soft-delete table with a dynamic schema, on loopback, on
// an ephemeral port printed as `LISTENING <port>`. DB_FILE names the SQLite file.
const express = require('express');
const azureMobileApps = require('azure-mobile-apps');

const table = process.env.TABLE || 'BenchRef';
const mobile = azureMobileApps({
    data: { provider: 'sqlite', filename: process.env.DB_FILE || ':memory:', dynamicSchema: true },
    logging: { level: 'error' },
    homePage: false,
    swagger: false,
});
mobile.tables.add(table, { softDelete: true, dynamicSchema: true });

const app = express();
app.use(mobile);
mobile.tables.initialize().then(() => {
    const server = app.listen(0, '127.0.0.1', () => {
        console.log('LISTENING ' + server.address().port);
    });
});
