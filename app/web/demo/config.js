// Where the pages find the API. The bundled stack's second origin serves its
// own /config.js pointing at the first (cross-origin, CORS), see
// conf/nginx/stack.conf.in.
export default { API_URL: "/api" };
